// AVX-512 channels-first direct microkernels (contract in convchw/convchw.hpp; this file alone
// gets the AVX-512 flags). Register budget, 32 zmm: KB x NV accumulators (24 for 6x64, 12x32 and
// 24x16; 16 for 8x32, enough to cover the FMA latency on two ports), NV input vectors and one
// broadcast weight. Per (channel, kernel row, kernel column) step: NV masked loads of the input
// row, KB broadcast loads of weights, KB x NV FMAs. The lane masks (kernel column x vector) are
// built once per tile: they cut both the padding columns and the row's tail, so no scalar
// fall-off and no read outside the input row.
#include <immintrin.h>

#include <algorithm>

#include "convchw/convchw.hpp"
#include "kernels/conv_chw_flat_tile.hpp"
#include "kernels/vec_avx512.hpp"

namespace fastconv::convchw {
namespace {

using simd::F32Zmm;


__mmask16 lanes_between(int64_t begin, int64_t end) {
    begin = std::max<int64_t>(begin, 0);
    end = std::min<int64_t>(end, 16);
    if (end <= begin) return 0;
    return static_cast<__mmask16>(((1u << (end - begin)) - 1u) << begin);
}

template <int KB, int NV>
void tile(const TileArgs& t) {
    __mmask16 masks[kMaxKernelWidth][NV];
    for (int64_t s = 0; s < t.kw; ++s)
        for (int v = 0; v < NV; ++v) {
            const int64_t first = t.col + s * t.dw + 16 * v;  // input column of lane 0
            masks[s][v] = lanes_between(-first, std::min(t.in_width - first, t.width - 16 * v));
        }
    __mmask16 store[NV];
    for (int v = 0; v < NV; ++v) store[v] = lanes_between(0, t.width - 16 * v);
    __m512 acc[KB][NV];
#pragma GCC unroll 32
    for (int k = 0; k < KB; ++k) {
        const __m512 b = t.bias && k < t.kb ? _mm512_set1_ps(t.bias[k]) : _mm512_setzero_ps();
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v)
            acc[k][v] = t.accumulate && k < t.kb ? _mm512_maskz_loadu_ps(store[v], t.y + k * t.y_stride + 16 * v) : b;
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
                __m512 xv[NV];
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) xv[v] = _mm512_maskz_loadu_ps(masks[s][v], x_row + s * t.dw + 16 * v);
#pragma GCC unroll 32
                for (int k = 0; k < KB; ++k) {
                    const __m512 wk = _mm512_set1_ps(w[k]);
#pragma GCC unroll 4
                    for (int v = 0; v < NV; ++v) acc[k][v] = _mm512_fmadd_ps(wk, xv[v], acc[k][v]);
                }
            }
        }
    }
    // Compile-time bounds with a guard, not a loop to kb: indexing acc by a runtime count would
    // force the accumulators out of registers into memory for the whole tile.
#pragma GCC unroll 32
    for (int k = 0; k < KB; ++k)
        if (k < t.kb)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(t.y + k * t.y_stride + 16 * v, store[v], acc[k][v]);
}

}  // namespace

void f32_conv_chw_ukernel_6x64__avx512f(const TileArgs& args) { tile<6, 4>(args); }
void f32_conv_chw_ukernel_8x32__avx512f(const TileArgs& args) { tile<8, 2>(args); }
void f32_conv_chw_ukernel_12x32__avx512f(const TileArgs& args) { tile<12, 2>(args); }
void f32_conv_chw_ukernel_8x16__avx512f(const TileArgs& args) { tile<8, 1>(args); }
void f32_conv_chw_ukernel_24x16__avx512f(const TileArgs& args) { tile<24, 1>(args); }


// Flat tiles: 24 accumulators, the input vectors and one broadcast in 32 zmm.
void f32_conv_chw_flat_ukernel_8x48__avx512f(const FlatTileArgs& args) { flat_tile<F32Zmm, 8, 3>(args); }
void f32_conv_chw_flat_ukernel_12x32__avx512f(const FlatTileArgs& args) { flat_tile<F32Zmm, 12, 2>(args); }

}  // namespace fastconv::convchw
