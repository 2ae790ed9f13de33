// AVX-512 indirect-GEMM microkernels (contract in igemm/igemm.hpp; this file alone gets the
// AVX-512 flags). Register budget, 32 zmm: 6 rows x 4 vectors (64 channels) of accumulators = 24,
// the 4 weight vectors of the current (tap, channel) and one broadcast; 8 x 2 for layers with at
// most 32 output channels per group; 12 x 1 for at most 16 (grouped layers with 16 channels per
// group), where one weight vector feeds 12 FMAs and 12 row pointers still fit the 16 GPRs with the
// weight pointer and the loop counters, while 14 rows spill them; and 10 rows of one 256-bit
// vector for at most 8 channels per group, where the 16-wide tile spent half its lanes on padding
// (grouped_3x3 channels-last, 1 thread, on the AVX-512 Xeon VM: 0.387 -> 0.324 ms; 8 rows 0.331,
// 12 rows 0.342, 16 rows 0.356, AVX2's 8 x 8 0.343); groups of exactly 8 or 4 channels in and
// out go two or four to a vector instead (the group-bundle kernels at the end). Per (tap, channel) step the 6x64 tile does
// 24 FMAs for 10 loads (4 weight vectors, 6 broadcasts), within the two load ports' budget, and
// keeps only 6 row pointers live, so none spill. Partial column blocks use masked loads and
// stores: no scalar tail.
#include <immintrin.h>

#include "igemm/igemm.hpp"
#include "kernels/vec_avx2.hpp"
#include "kernels/vec_avx512.hpp"

namespace fastconv::igemm {
namespace {

// One column vector of the tiles, the shared vector traits plus masked loads and stores for the
// partial column blocks: 512 bits (16 channels) or, for groups of at most 8 output channels, 256
// bits (AVX-512VL's 32 ymm registers and masked ymm loads and stores).
struct ZmmColumns : simd::F32Zmm {
    using Mask = __mmask16;
    static Vec load_masked(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
    static void store_masked(float* p, Mask m, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
};

struct YmmColumns : simd::F32Ymm {
    using Mask = __mmask8;
    static Vec load_masked(Mask m, const float* p) { return _mm256_maskz_loadu_ps(m, p); }
    static void store_masked(float* p, Mask m, Vec v) { _mm256_mask_storeu_ps(p, m, v); }
};

// KC > 0: the channel loop's trip count known at compile time and fully unrolled, as in the AVX2
// file: a grouped layer's taps reach only 4 to 16 channels each.
template <typename V, int MR, int NV, int KC = 0>
inline void tile(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a, int64_t a_offset,
                 const float* w, const float* bias, float* const* c) {
    using Vec = typename V::Vec;
    using Mask = typename V::Mask;
    constexpr int L = V::lanes;
    Mask mask[NV];
    for (int v = 0; v < NV; ++v) {
        const int64_t lanes = nr - L * v;
        mask[v] = lanes >= L ? Mask((1u << L) - 1) : lanes <= 0 ? Mask(0) : Mask((1u << lanes) - 1);
    }
    Vec acc[MR][NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
        const Vec b = bias ? V::load_masked(mask[v], bias + L * v) : V::zero();
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) acc[i][v] = b;
    }
    for (int64_t t = 0; t < ks; ++t) {
        const float* rows[MR];
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) rows[i] = a[t * MR + i] + a_offset;
        const auto step = [&](int64_t p) {
            Vec wv[NV];
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) wv[v] = V::load(w + L * v);
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) {
                const Vec x = V::broadcast(rows[i] + p);
#pragma GCC unroll 16
                for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(x, wv[v], acc[i][v]);
            }
            w += L * NV;
        };
        if constexpr (KC > 0) {
#pragma GCC unroll 16
            for (int p = 0; p < KC; ++p) step(p);
        } else {
            for (int64_t p = 0; p < kc; ++p) step(p);
        }
    }
    // Constant row indices: a loop to the runtime mr would index acc with a variable, and GCC then
    // keeps acc in memory, storing every accumulator to the stack on every k step.
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
        if (i < mr)
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) V::store_masked(c[i] + L * v, mask[v], acc[i][v]);
}

}  // namespace

void f32_igemm_ukernel_6x64__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    tile<ZmmColumns, 6, 4>(mr, nr, kc, ks, a, a_offset, w, bias, c);
}

void f32_igemm_ukernel_8x32__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    tile<ZmmColumns, 8, 2>(mr, nr, kc, ks, a, a_offset, w, bias, c);
}

void f32_igemm_ukernel_12x16__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    switch (kc) {
        case 4: return tile<ZmmColumns, 12, 1, 4>(mr, nr, kc, ks, a, a_offset, w, bias, c);
        case 8: return tile<ZmmColumns, 12, 1, 8>(mr, nr, kc, ks, a, a_offset, w, bias, c);
        case 16: return tile<ZmmColumns, 12, 1, 16>(mr, nr, kc, ks, a, a_offset, w, bias, c);
        default: return tile<ZmmColumns, 12, 1>(mr, nr, kc, ks, a, a_offset, w, bias, c);
    }
}

void f32_igemm_ukernel_10x8__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    switch (kc) {
        case 4: return tile<YmmColumns, 10, 1, 4>(mr, nr, kc, ks, a, a_offset, w, bias, c);
        case 8: return tile<YmmColumns, 10, 1, 8>(mr, nr, kc, ks, a, a_offset, w, bias, c);
        default: return tile<YmmColumns, 10, 1>(mr, nr, kc, ks, a, a_offset, w, bias, c);
    }
}

namespace {

// 16 / CG groups of CG channels per call: two groups of 8 (grouped_3x3: 32 groups of 8 in and 8
// out) or four of 4 (ResNeXt's 4-channel groups). The tiles above fill half a vector or a ymm with
// such groups, and each FMA waits on a broadcast load: at most half the FMA peak, 35% measured on
// grouped_3x3. Here one 512-bit load per row and tap holds every group's CG input channels, and
// for channel p a vpermps copies lane q * CG + p to lanes q * CG .. q * CG + CG - 1 of each group
// q, so each FMA multiplies every group's channel p by its CG filters in its own lanes: every lane
// useful, no group reading another's data (an Inf in one group cannot reach another's outputs, as
// a block-diagonal 16x16 product would let it). Zen 5 sustains a vpermps per FMA at 85% of peak
// (199 against 233 GFLOP/s, register operands). Register budget, 32 zmm: 10 accumulators, the 10
// rows' input vectors of this tap, the CG lane indices (GCC keeps them all) and a weight vector;
// with 12 rows GCC spilled an accumulator and ran 2% slower (grouped_3x3 channels-last, Zen 5, 1
// thread). w holds per (tap, channel) 16 floats, group q's CG filters at lanes q * CG on; c[i] and
// bias are the bundle's 16 consecutive channels.
template <int CG>
inline void group_bundle_tile(int64_t mr, int64_t ks, const float* const* a, int64_t a_offset, const float* w,
                              const float* bias, float* const* c) {
    constexpr int MR = 10;
    alignas(64) int32_t first_lanes[16];
    for (int l = 0; l < 16; ++l) first_lanes[l] = l / CG * CG;
    const __m512i first = _mm512_load_si512(first_lanes);
    const __m512i one = _mm512_set1_epi32(1);
    const __m512 b = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    __m512 acc[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) acc[i] = b;
    for (int64_t t = 0; t < ks; ++t) {
        __m512 x[MR];
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) x[i] = _mm512_loadu_ps(a[t * MR + i] + a_offset);
        __m512i pick = first;
#pragma GCC unroll 8
        for (int p = 0; p < CG; ++p) {
            const __m512 wv = _mm512_loadu_ps(w);
            // The zero-masking form: the plain one's undefined pass-through trips GCC 12's
            // -Wmaybe-uninitialized; a full mask compiles to the same unmasked vpermps.
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i)
                acc[i] = _mm512_fmadd_ps(_mm512_maskz_permutexvar_ps(0xFFFF, pick, x[i]), wv, acc[i]);
            pick = _mm512_add_epi32(pick, one);
            w += 16;
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
        if (i < mr) _mm512_storeu_ps(c[i], acc[i]);
}

}  // namespace

// kc is the groups' CG channels and nr 16 by contract (igemm.hpp).
void f32_igemm_ukernel_10x16_group_pairs__avx512f(int64_t mr, int64_t, int64_t, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    group_bundle_tile<8>(mr, ks, a, a_offset, w, bias, c);
}

void f32_igemm_ukernel_10x16_group_quads__avx512f(int64_t mr, int64_t, int64_t, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    group_bundle_tile<4>(mr, ks, a, a_offset, w, bias, c);
}

}  // namespace fastconv::igemm
