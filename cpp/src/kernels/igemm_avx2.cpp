// AVX2+FMA indirect-GEMM microkernels (contract in igemm/igemm.hpp; this file alone gets the AVX2
// flags). Register budget, 16 ymm: 6 rows x 2 vectors (16 channels) of accumulators = 12, the two
// weight vectors of the current (tap, channel) and one broadcast; 8 x 1 (8 channels) for layers
// with at most 8 output channels per group (grouped layers), where the 16-wide tile would leave
// half its lanes idle: 8 accumulators, one weight vector, one broadcast, and 8 independent FMA
// chains, just enough to cover the FMA latency. Its 8 row pointers fit the general registers with
// the weight pointer and the loop counters; a 12-row tile spilled two of them, reloaded on every
// channel step (grouped_3x3 on channels-last memory, Zen 3, 1 thread, minima of alternated
// processes: 0.547 -> 0.522 ms; the tile alone 61 -> 68 GFLOP/s). A partial column block loads
// its bias with a lane mask built from nr and stores its last vector through a stack copy, nr
// lanes of it: vmaskmovps stores cost Zen 3 a dozen cycles or more each, about as much as a thin
// group's whole tile (groups of 6 on the 8-wide tile: 25% faster in isolation without them).
// Groups of exactly 4 or 2 channels in and out go two or four to a ymm instead (the group-bundle
// kernels, group_bundle_tile).
#include <immintrin.h>

#include "igemm/igemm.hpp"

namespace fastconv::igemm {
namespace {

// step(p) for each channel p < kc. KC > 0: the trip count known at compile time and the loop fully
// unrolled. A grouped layer's taps reach only 4 or 8 channels each, and with a run-time loop its
// counter, compare and branch, and the row pointers GCC spills for want of registers, cost as much
// as the FMAs (grouped_3x3 on Zen 3: ~20% faster unrolled, channels-first and channels-last).
template <int KC, typename Step>
inline void for_each_channel(int64_t kc, Step&& step) {
    if constexpr (KC > 0) {
#pragma GCC unroll 8
        for (int p = 0; p < KC; ++p) step(p);
    } else {
        for (int64_t p = 0; p < kc; ++p) step(p);
    }
}

// The first `count` (1 to 8) lanes of v to c: whole vectors plainly, a partial one through a stack
// copy (see the file comment on vmaskmovps).
inline void store_lanes(float* c, __m256 v, int64_t count) {
    if (count >= 8) {
        _mm256_storeu_ps(c, v);
        return;
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, v);
    for (int64_t j = 0; j < count; ++j) c[j] = lanes[j];
}

template <int MR, int NV, int KC = 0>
inline void tile(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a, int64_t a_offset,
                 const float* w, const float* bias, float* const* c) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i mask[NV];
    for (int v = 0; v < NV; ++v) mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(nr - 8 * v)), lane);
    __m256 acc[MR][NV];
    for (int v = 0; v < NV; ++v) {
        const __m256 b = bias ? _mm256_maskload_ps(bias + 8 * v, mask[v]) : _mm256_setzero_ps();
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) acc[i][v] = b;
    }
    for (int64_t t = 0; t < ks; ++t) {
        const float* rows[MR];
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) rows[i] = a[t * MR + i] + a_offset;
        const auto step = [&](int64_t p) {
            __m256 wv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) wv[v] = _mm256_load_ps(w + 8 * v);
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) {
                const __m256 x = _mm256_broadcast_ss(rows[i] + p);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(x, wv[v], acc[i][v]);
            }
            w += 8 * NV;
        };
        for_each_channel<KC>(kc, step);
    }
    // Constant row indices: a loop to the runtime mr would index acc with a variable, and GCC then
    // keeps acc in memory, storing all the accumulators to the stack on every k step (3x slower).
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
        if (i < mr)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) store_lanes(c[i] + 8 * v, acc[i][v], nr - 8 * v);
}

// The 8x8 tile's sums for a full tile whose 8 pixels lie in one output row, the kernel 3 taps wide
// at stride 1 and dilation 1 along the width (grouped_3x3: 8 channels per group, where the tile
// above waits on a broadcast load per FMA). Pixel i reads input column i + kw through tap column
// kw, so one row of taps reads only 10 distinct pixels: each of their channels is broadcast once
// and feeds up to 3 FMAs, one per tap column (10 broadcasts and 3 weight loads per 24 FMAs, against
// 8 and 1 per 8). The pointers come from the usual table: pixel m < 8 through tap column 0, pixels 8
// and 9 through column 2 (a padding column's zero row serves every tap that reads it). The sums
// run in (row of taps, channel, tap column) order, not the table's (tap, channel): the caller
// picks this kernel or the tile for a pixel by the problem alone, so results stay deterministic.
// Register budget: 8 accumulators, 3 weight vectors, one broadcast.
template <int KC>
inline void row_of_three_tile(int64_t nr, int64_t kc, int64_t ks, const float* const* a, int64_t a_offset,
                              const float* w, const float* bias, float* const* c) {
    constexpr int MR = 8;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(nr)), lane);
    const __m256 b = bias ? _mm256_maskload_ps(bias, mask) : _mm256_setzero_ps();
    __m256 acc[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) acc[i] = b;
    const int64_t channels = KC > 0 ? KC : kc;
    for (int64_t t = 0; t < ks; t += 3) {
        const float* x[MR + 2];
#pragma GCC unroll 16
        for (int m = 0; m < MR; ++m) x[m] = a[t * MR + m] + a_offset;
        x[MR] = a[(t + 2) * MR + MR - 2] + a_offset;
        x[MR + 1] = a[(t + 2) * MR + MR - 1] + a_offset;
        const float* w_row = w + t * channels * 8;
        const auto step = [&](int64_t p) {
            const __m256 w0 = _mm256_load_ps(w_row + p * 8);
            const __m256 w1 = _mm256_load_ps(w_row + (channels + p) * 8);
            const __m256 w2 = _mm256_load_ps(w_row + (2 * channels + p) * 8);
#pragma GCC unroll 16
            for (int m = 0; m < MR + 2; ++m) {
                const __m256 v = _mm256_broadcast_ss(x[m] + p);
                if (m < MR) acc[m] = _mm256_fmadd_ps(v, w0, acc[m]);
                if (m >= 1 && m <= MR) acc[m - 1] = _mm256_fmadd_ps(v, w1, acc[m - 1]);
                if (m >= 2) acc[m - 2] = _mm256_fmadd_ps(v, w2, acc[m - 2]);
            }
        };
        for_each_channel<KC>(kc, step);
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) store_lanes(c[i], acc[i], nr);
}

// 8 / CG groups of CG channels per call: two groups of 4 (ResNeXt's 32 groups of 4 in and 4 out)
// or four of 2. The one-group tiles above leave a group of 4 half a ymm and store it masked (Zen 3
// spends about a dozen cycles per masked store, more than the tile's 36 FMAs per row: the
// 4 -> 4 layer ran at ~9 GFLOP/s on channels-last memory, 3.4 ms against 0.9 on channels-first).
// Here one 256-bit load per row and tap holds every group's CG input channels, and for channel p
// an in-lane vpermilps (an immediate shuffle; a group never straddles the two 128-bit lanes)
// copies lane q * CG + p to lanes q * CG .. q * CG + CG - 1 of each group q, so each FMA
// multiplies every group's channel p by its CG filters in its own lanes: every lane useful, no
// group reading another's data. The shuffles go to the FP shuffle pipes beside the FMAs.
// Register budget, 16 ymm: 8 accumulators, the tap's CG weight vectors (4 at most), the row's
// input vector and its shuffle; row pointers are loaded as each row starts, so none stays live.
// w holds per (tap, channel) 8 floats, group q's CG filters at lanes q * CG on; c[i] and bias
// are the bundle's 8 consecutive channels.
template <int CG, int P>
constexpr int lane_pick() {  // vpermilps immediate: within each 4-lane half, lane l takes l / CG * CG + P
    int imm = 0;
    for (int l = 0; l < 4; ++l) imm |= (l / CG * CG + P) << (2 * l);
    return imm;
}

template <int CG, int P>
inline __m256 channel_of_each_group(__m256 x) {
    constexpr int pick = lane_pick<CG, P>();  // one name: clang's _mm256_permute_ps is a macro
    return _mm256_permute_ps(x, pick);
}

template <int CG>
inline void group_bundle_tile(int64_t mr, int64_t ks, const float* const* a, int64_t a_offset, const float* w,
                              const float* bias, float* const* c) {
    constexpr int MR = 8;
    const __m256 b = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    __m256 acc[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) acc[i] = b;
    for (int64_t t = 0; t < ks; ++t) {
        __m256 wv[CG];
#pragma GCC unroll 4
        for (int p = 0; p < CG; ++p) wv[p] = _mm256_load_ps(w + 8 * p);
        w += 8 * CG;
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const __m256 x = _mm256_loadu_ps(a[t * MR + i] + a_offset);
            acc[i] = _mm256_fmadd_ps(channel_of_each_group<CG, 0>(x), wv[0], acc[i]);
            acc[i] = _mm256_fmadd_ps(channel_of_each_group<CG, 1>(x), wv[1], acc[i]);
            if constexpr (CG == 4) {
                acc[i] = _mm256_fmadd_ps(channel_of_each_group<CG, 2>(x), wv[2], acc[i]);
                acc[i] = _mm256_fmadd_ps(channel_of_each_group<CG, 3>(x), wv[3], acc[i]);
            }
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
        if (i < mr) _mm256_storeu_ps(c[i], acc[i]);
}

}  // namespace

void f32_igemm_ukernel_6x16__avx2_fma(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    tile<6, 2>(mr, nr, kc, ks, a, a_offset, w, bias, c);
}

void f32_igemm_ukernel_8x8__avx2_fma(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    switch (kc) {
        case 4: return tile<8, 1, 4>(mr, nr, kc, ks, a, a_offset, w, bias, c);
        case 8: return tile<8, 1, 8>(mr, nr, kc, ks, a, a_offset, w, bias, c);
        default: return tile<8, 1>(mr, nr, kc, ks, a, a_offset, w, bias, c);
    }
}

void f32_igemm_ukernel_8x8_row_of_three__avx2_fma(int64_t, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    if (kc == 8) return row_of_three_tile<8>(nr, kc, ks, a, a_offset, w, bias, c);
    row_of_three_tile<0>(nr, kc, ks, a, a_offset, w, bias, c);
}

// kc is the groups' CG channels and nr 8 by contract (igemm.hpp).
void f32_igemm_ukernel_8x8_group_pairs__avx2_fma(int64_t mr, int64_t, int64_t, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    group_bundle_tile<4>(mr, ks, a, a_offset, w, bias, c);
}

void f32_igemm_ukernel_8x8_group_quads__avx2_fma(int64_t mr, int64_t, int64_t, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    group_bundle_tile<2>(mr, ks, a, a_offset, w, bias, c);
}

}  // namespace fastconv::igemm
