// AVX2+FMA channels-first direct microkernels (contract in convchw/convchw.hpp; this file alone
// gets the AVX2 flags). Register budget, 16 ymm: 6 x 2 or 12 x 1 accumulators, the input vectors
// and one broadcast weight. maskload never touches a masked-out lane, so the lane masks (kernel
// column x vector, built once per tile) cut the padding columns and the row's tail without a
// scalar tail loop. Stores are masked only where the row ends inside a vector: a masked store costs
// Zen 3 about a dozen cycles, a plain one one.
#include <immintrin.h>

#include <algorithm>

#include "convchw/convchw.hpp"
#include "kernels/conv_chw_flat_tile.hpp"
#include "kernels/vec_avx2.hpp"

namespace fastconv::convchw {
namespace {

using simd::F32Ymm;


__m256i lanes_between(int64_t begin, int64_t end) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int lo = static_cast<int>(std::clamp<int64_t>(begin, 0, 8));
    const int hi = static_cast<int>(std::clamp<int64_t>(end, 0, 8));
    const __m256i at_least = _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(lo - 1));
    const __m256i below = _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), lane);
    return _mm256_and_si256(at_least, below);
}

template <int KB, int NV>
void tile(const TileArgs& t) {
    __m256i masks[kMaxKernelWidth][NV];
    for (int64_t s = 0; s < t.kw; ++s)
        for (int v = 0; v < NV; ++v) {
            const int64_t first = t.col + s * t.dw + 8 * v;
            masks[s][v] = lanes_between(-first, std::min(t.in_width - first, t.width - 8 * v));
        }
    __m256i store[NV];
    for (int v = 0; v < NV; ++v) store[v] = lanes_between(0, t.width - 8 * v);
    __m256 acc[KB][NV];
#pragma GCC unroll 16
    for (int k = 0; k < KB; ++k) {
        const __m256 b = t.bias && k < t.kb ? _mm256_set1_ps(t.bias[k]) : _mm256_setzero_ps();
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v)
            acc[k][v] = t.accumulate && k < t.kb ? _mm256_maskload_ps(t.y + k * t.y_stride + 8 * v, store[v]) : b;
    }
    const float* w = t.w;
    for (int64_t c = 0; c < t.channels; ++c) {
        const float* x_channel = t.x + c * t.x_stride + t.col;
        for (int64_t r = 0; r < t.kh; ++r) {
            if (t.rows[r] < 0) {
                w += t.kw * KB;
                continue;
            }
            const float* x_row = x_channel + t.rows[r];
            for (int64_t s = 0; s < t.kw; ++s, w += KB) {
                __m256 xv[NV];
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) xv[v] = _mm256_maskload_ps(x_row + s * t.dw + 8 * v, masks[s][v]);
#pragma GCC unroll 16
                for (int k = 0; k < KB; ++k) {
                    const __m256 wk = _mm256_broadcast_ss(w + k);
#pragma GCC unroll 4
                    for (int v = 0; v < NV; ++v) acc[k][v] = _mm256_fmadd_ps(wk, xv[v], acc[k][v]);
                }
            }
        }
    }
    // Compile-time bounds with a guard, not a loop to kb: indexing acc by a runtime count would
    // force the accumulators out of registers into memory for the whole tile.
#pragma GCC unroll 16
    for (int k = 0; k < KB; ++k)
        if (k < t.kb)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                if (t.width >= 8 * (v + 1)) _mm256_storeu_ps(t.y + k * t.y_stride + 8 * v, acc[k][v]);
                else _mm256_maskstore_ps(t.y + k * t.y_stride + 8 * v, store[v], acc[k][v]);
            }
}

}  // namespace

void f32_conv_chw_ukernel_6x16__avx2_fma(const TileArgs& args) { tile<6, 2>(args); }
void f32_conv_chw_ukernel_12x8__avx2_fma(const TileArgs& args) { tile<12, 1>(args); }


// Flat tiles: 12 accumulators, the input vectors and one broadcast in 16 ymm.
void f32_conv_chw_flat_ukernel_4x24__avx2_fma(const FlatTileArgs& args) { flat_tile<F32Ymm, 4, 3>(args); }
void f32_conv_chw_flat_ukernel_6x16__avx2_fma(const FlatTileArgs& args) { flat_tile<F32Ymm, 6, 2>(args); }

}  // namespace fastconv::convchw
