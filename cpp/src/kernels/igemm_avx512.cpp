// AVX-512 indirect-GEMM microkernels (contract in igemm/igemm.hpp; this file alone gets the
// AVX-512 flags). Register budget, 32 zmm: 6 rows x 4 vectors (64 channels) of accumulators = 24,
// the 4 weight vectors of the current (tap, channel) and one broadcast; 8 x 2 for layers with at
// most 32 output channels per group; 12 x 1 for at most 16 (grouped layers with 16 channels per
// group), where one weight vector feeds 12 FMAs and 12 row pointers still fit the 16 GPRs with the
// weight pointer and the loop counters, while 14 rows spill them; and 10 rows of one 256-bit
// vector for at most 8 channels per group, where the 16-wide tile spent half its lanes on padding
// (grouped_3x3 channels-last, 1 thread, on the AVX-512 Xeon VM: 0.387 -> 0.324 ms; 8 rows 0.331,
// 12 rows 0.342, 16 rows 0.356, AVX2's 8 x 8 0.343). Per (tap, channel) step the 6x64 tile does 24 FMAs for 10
// loads (4 weight vectors, 6 broadcasts), within the two load ports' budget, and keeps only 6 row
// pointers live, so none spill. Partial column blocks use masked loads and stores: no scalar tail.
#include <immintrin.h>

#include "igemm/igemm.hpp"

namespace fastconv::igemm {
namespace {

// KC > 0: the channel loop's trip count known at compile time and fully unrolled, as in the AVX2
// file: a grouped layer's taps reach only 4 to 16 channels each.
template <int MR, int NV, int KC = 0>
inline void tile(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a, int64_t a_offset,
                 const float* w, const float* bias, float* const* c) {
    __mmask16 mask[NV];
    for (int v = 0; v < NV; ++v) {
        const int64_t lanes = nr - 16 * v;
        mask[v] = lanes >= 16 ? __mmask16(0xFFFF) : lanes <= 0 ? __mmask16(0) : __mmask16((1u << lanes) - 1);
    }
    __m512 acc[MR][NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
        const __m512 b = bias ? _mm512_maskz_loadu_ps(mask[v], bias + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) acc[i][v] = b;
    }
    for (int64_t t = 0; t < ks; ++t) {
        const float* rows[MR];
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) rows[i] = a[t * MR + i] + a_offset;
        const auto step = [&](int64_t p) {
            __m512 wv[NV];
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) wv[v] = _mm512_load_ps(w + 16 * v);
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) {
                const __m512 x = _mm512_set1_ps(rows[i][p]);
#pragma GCC unroll 16
                for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(x, wv[v], acc[i][v]);
            }
            w += 16 * NV;
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
            for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(c[i] + 16 * v, mask[v], acc[i][v]);
}

// Eight columns in one 256-bit vector (AVX-512VL's masked ymm loads and stores for the partial
// columns), for groups of at most 8 output channels.
template <int MR, int KC = 0>
inline void tile8(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a, int64_t a_offset,
                  const float* w, const float* bias, float* const* c) {
    const __mmask8 mask = nr >= 8 ? __mmask8(0xFF) : __mmask8((1u << nr) - 1);
    const __m256 b = bias ? _mm256_maskz_loadu_ps(mask, bias) : _mm256_setzero_ps();
    __m256 acc[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) acc[i] = b;
    for (int64_t t = 0; t < ks; ++t) {
        const float* rows[MR];
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) rows[i] = a[t * MR + i] + a_offset;
        const auto step = [&](int64_t p) {
            const __m256 wv = _mm256_load_ps(w);
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(rows[i][p]), wv, acc[i]);
            w += 8;
        };
        if constexpr (KC > 0) {
#pragma GCC unroll 16
            for (int p = 0; p < KC; ++p) step(p);
        } else {
            for (int64_t p = 0; p < kc; ++p) step(p);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
        if (i < mr) _mm256_mask_storeu_ps(c[i], mask, acc[i]);
}

}  // namespace

void f32_igemm_ukernel_6x64__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    tile<6, 4>(mr, nr, kc, ks, a, a_offset, w, bias, c);
}

void f32_igemm_ukernel_8x32__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    tile<8, 2>(mr, nr, kc, ks, a, a_offset, w, bias, c);
}

void f32_igemm_ukernel_12x16__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    switch (kc) {
        case 4: return tile<12, 1, 4>(mr, nr, kc, ks, a, a_offset, w, bias, c);
        case 8: return tile<12, 1, 8>(mr, nr, kc, ks, a, a_offset, w, bias, c);
        case 16: return tile<12, 1, 16>(mr, nr, kc, ks, a, a_offset, w, bias, c);
        default: return tile<12, 1>(mr, nr, kc, ks, a, a_offset, w, bias, c);
    }
}

void f32_igemm_ukernel_10x8__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    switch (kc) {
        case 4: return tile8<10, 4>(mr, nr, kc, ks, a, a_offset, w, bias, c);
        case 8: return tile8<10, 8>(mr, nr, kc, ks, a, a_offset, w, bias, c);
        default: return tile8<10>(mr, nr, kc, ks, a, a_offset, w, bias, c);
    }
}

}  // namespace fastconv::igemm
