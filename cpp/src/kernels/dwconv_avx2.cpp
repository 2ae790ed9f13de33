// AVX2+FMA depthwise microkernels (contract in dwconv/dwconv.hpp; this file alone gets the AVX2
// flags). One pixel: four vectors (32 channels) per step for four independent FMA chains; four
// pixels of a 3x3 window: see rows4_block. The channel tail runs one vector at a time through
// maskload/maskstore.
#include <immintrin.h>

#include <algorithm>

#include "dwconv/dwconv.hpp"
#include "kernels/dwconv_chw_row.hpp"
#include "kernels/vec_avx2.hpp"

namespace fastconv::dwconv {
namespace {

// The lane mask of a vector's first `lanes` lanes (all of them from 8 on).
__m256i first_lanes(int64_t lanes) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min<int64_t>(lanes, 8))), lane);
}

// Channels [c, channels) of one pixel, one masked vector at a time (the tail of a channel row).
void tail_channels(int64_t c, int64_t channels, int64_t ks, const float* const* a, const float* w, const float* bias,
                   float* y) {
    for (; c < channels; c += 8) {
        const __m256i mask = first_lanes(channels - c);
        __m256 acc = bias ? _mm256_maskload_ps(bias + c, mask) : _mm256_setzero_ps();
        for (int64_t t = 0; t < ks; ++t)
            acc = _mm256_fmadd_ps(_mm256_maskload_ps(a[t] + c, mask), _mm256_maskload_ps(w + t * channels + c, mask), acc);
        _mm256_maskstore_ps(y + c, mask, acc);
    }
}

}  // namespace

void f32_dwconv_ukernel_c32__avx2_fma(int64_t channels, int64_t ks, const float* const* a, const float* w,
                                      const float* bias, float* y) {
    int64_t c = 0;
    for (; c + 32 <= channels; c += 32) {
        __m256 acc[4];
        for (int v = 0; v < 4; ++v) acc[v] = bias ? _mm256_loadu_ps(bias + c + 8 * v) : _mm256_setzero_ps();
        for (int64_t t = 0; t < ks; ++t) {
            const float* x = a[t] + c;
            const float* wt = w + t * channels + c;
            for (int v = 0; v < 4; ++v)
                acc[v] = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8 * v), _mm256_loadu_ps(wt + 8 * v), acc[v]);
        }
        for (int v = 0; v < 4; ++v) _mm256_storeu_ps(y + c + 8 * v, acc[v]);
    }
    tail_channels(c, channels, ks, a, w, bias, y);
}

namespace {

// NV vectors of channels x 4 pixels: 4 * NV accumulators (8 chains cover the FMA latency), the
// kernel row's 3 * NV weight vectors and one input column vector, loaded once for every pixel that
// reads it: 0.75 loads per FMA at NV = 2, where the one-pixel kernel needs two.
template <int NV>
inline void rows4_block(int64_t c, int64_t channels, const float* const* cols, const float* w, const float* bias,
                        float* y, bool stream) {
    __m256 acc[4][NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
        const __m256 b = bias ? _mm256_loadu_ps(bias + c + 8 * v) : _mm256_setzero_ps();
#pragma GCC unroll 4
        for (int p = 0; p < 4; ++p) acc[p][v] = b;
    }
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r) {
        __m256 wr[3][NV];
#pragma GCC unroll 3
        for (int s = 0; s < 3; ++s)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) wr[s][v] = _mm256_loadu_ps(w + (r * 3 + s) * channels + c + 8 * v);
        // Column j feeds pixel p through kernel column s = j - p; ascending j keeps each pixel's
        // taps in order.
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                const __m256 x = _mm256_loadu_ps(cols[r * 6 + j] + c + 8 * v);
#pragma GCC unroll 4
                for (int p = 0; p < 4; ++p)
                    if (j - p >= 0 && j - p < 3) acc[p][v] = _mm256_fmadd_ps(x, wr[j - p][v], acc[p][v]);
            }
    }
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
            float* out = y + p * channels + c + 8 * v;
            if (stream) _mm256_stream_ps(out, acc[p][v]);
            else _mm256_storeu_ps(out, acc[p][v]);
        }
}

}  // namespace

// Two vectors (16 channels) per step, then one; the last < 8 channels one pixel at a time through
// the masked one-pixel kernel, whose FMA chains are the same.
void f32_dwconv_3x3_rows4_ukernel__avx2_fma(int64_t channels, const float* const* cols, const float* w,
                                            const float* bias, float* y, bool stream) {
    int64_t c = 0;
    for (; c + 16 <= channels; c += 16) rows4_block<2>(c, channels, cols, w, bias, y, stream);
    for (; c + 8 <= channels; c += 8) rows4_block<1>(c, channels, cols, w, bias, y, stream);
    if (c == channels) return;
    for (int p = 0; p < 4; ++p) {
        const float* taps[9];
        for (int r = 0; r < 3; ++r)
            for (int s = 0; s < 3; ++s) taps[r * 3 + s] = cols[r * 6 + p + s];
        tail_channels(c, channels, 9, taps, w, bias, y + p * channels);
    }
}

namespace {

// The shared traits with a store of a vector's first `count` lanes, and a load whose register the
// empty asm pins (an operand GCC cannot fold into the FMAs that read it).
struct F32YmmRow : simd::F32Ymm {
    static void store_first(float* p, Vec v, int64_t count) { _mm256_maskstore_ps(p, first_lanes(count), v); }
    static Vec load_kept(const float* p) {
        Vec v = _mm256_loadu_ps(p);
        asm("" : "+x"(v));
        return v;
    }
};

}  // namespace

void f32_dwconv_chw_row_ukernel__avx2_fma(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows,
                                          const float* w, float bias, float* y, float* y_next) {
    chw_row<F32YmmRow>(width, kh, kw, dw, rows, w, bias, y, y_next);
}

}  // namespace fastconv::dwconv
