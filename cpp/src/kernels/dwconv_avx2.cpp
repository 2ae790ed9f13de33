// AVX2+FMA depthwise microkernels (contract in dwconv/dwconv.hpp; this file alone gets the AVX2
// flags). One pixel: four vectors (32 channels) per step for four independent FMA chains; four
// pixels of a 3x3 window: see rows4_block. The channel tail runs one vector at a time through
// maskload/maskstore.
#include <immintrin.h>

#include "dwconv/dwconv.hpp"

namespace fastconv::dwconv {
namespace {

// Channels [c, channels) of one pixel, one masked vector at a time (the tail of a channel row).
void tail_channels(int64_t c, int64_t channels, int64_t ks, const float* const* a, const float* w, const float* bias,
                   float* y) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (; c < channels; c += 8) {
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(channels - c)), lane);
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
                        float* y) {
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
        for (int v = 0; v < NV; ++v) _mm256_storeu_ps(y + p * channels + c + 8 * v, acc[p][v]);
}

}  // namespace

// Two vectors (16 channels) per step, then one; the last < 8 channels one pixel at a time through
// the masked one-pixel kernel, whose FMA chains are the same.
void f32_dwconv_3x3_rows4_ukernel__avx2_fma(int64_t channels, const float* const* cols, const float* w,
                                            const float* bias, float* y) {
    int64_t c = 0;
    for (; c + 16 <= channels; c += 16) rows4_block<2>(c, channels, cols, w, bias, y);
    for (; c + 8 <= channels; c += 8) rows4_block<1>(c, channels, cols, w, bias, y);
    if (c == channels) return;
    for (int p = 0; p < 4; ++p) {
        const float* taps[9];
        for (int r = 0; r < 3; ++r)
            for (int s = 0; s < 3; ++s) taps[r * 3 + s] = cols[r * 6 + p + s];
        tail_channels(c, channels, 9, taps, w, bias, y + p * channels);
    }
}

namespace {

// Outputs [ow, min(width, ow + 8 NV)) of one row. Only the last vector's store is masked, where the
// row ends inside it, since a masked store costs Zen 3 about a dozen cycles (four of them per
// 56-wide row cost depthwise_3x3 a fifth of its time).
template <int NV>
inline void store_row(int64_t ow, int64_t width, const __m256* acc, float* y) {
#pragma GCC unroll 4
    for (int v = 0; v + 1 < NV; ++v) _mm256_storeu_ps(y + ow + 8 * v, acc[v]);
    float* last = y + ow + 8 * (NV - 1);
    const int64_t left = width - ow - 8 * (NV - 1);
    if (left >= 8) {
        _mm256_storeu_ps(last, acc[NV - 1]);
    } else {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_maskstore_ps(last, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left)), lane), acc[NV - 1]);
    }
}

// NV vectors of outputs at once, each its own FMA chain over the kh x kw taps: one chain per row
// would wait out the FMA latency on every tap (9 dependent FMAs per 8 outputs ran at 9% of peak
// on resnet-sized rows). kPair: the next output row too, from the same loads (input row r serves
// kernel row r of the first output row and r - 1 of the second). Loads are never masked: the
// caller's rows are padded past the row's end.
// Always inlined: called out of line, with its vector argument and eight accumulators, GCC's
// copy ran 2.5x slower than the whole layer had before (Zen 3).
template <int NV, bool kPair>
[[gnu::always_inline]] inline void row_block(int64_t ow, int64_t width, int64_t kh, int64_t kw, int64_t dw,
                                             const float* const* rows, const float* w, __m256 b, float* y,
                                             float* y_next) {
    __m256 acc[NV], next[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[v] = next[v] = b;
    for (int64_t r = 0; r < kh + kPair; ++r)
        for (int64_t s = 0; s < kw; ++s) {
            const float* x = rows[r] + ow + s * dw;
            __m256 xv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) xv[v] = _mm256_loadu_ps(x + 8 * v);
            if (r < kh) {
                const __m256 weight = _mm256_set1_ps(w[r * kw + s]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) acc[v] = _mm256_fmadd_ps(xv[v], weight, acc[v]);
            }
            if (kPair && r > 0) {
                const __m256 weight = _mm256_set1_ps(w[(r - 1) * kw + s]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) next[v] = _mm256_fmadd_ps(xv[v], weight, next[v]);
            }
        }
    store_row<NV>(ow, width, acc, y);
    if (kPair) store_row<NV>(ow, width, next, y_next);
}

// Four vectors (32 outputs) per step; the last up-to-31 outputs in one step of as many vectors as
// they need (56 = 32 + 24 needs no mask at all).
template <bool kPair>
void row_pass(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows, const float* w, float bias,
              float* y, float* y_next) {
    const __m256 b = _mm256_set1_ps(bias);
    int64_t ow = 0;
    for (; ow + 32 <= width; ow += 32) row_block<4, kPair>(ow, width, kh, kw, dw, rows, w, b, y, y_next);
    switch ((width - ow + 7) / 8) {
        case 4: row_block<4, kPair>(ow, width, kh, kw, dw, rows, w, b, y, y_next); break;
        case 3: row_block<3, kPair>(ow, width, kh, kw, dw, rows, w, b, y, y_next); break;
        case 2: row_block<2, kPair>(ow, width, kh, kw, dw, rows, w, b, y, y_next); break;
        case 1: row_block<1, kPair>(ow, width, kh, kw, dw, rows, w, b, y, y_next); break;
        default: break;
    }
}

}  // namespace

void f32_dwconv_chw_row_ukernel__avx2_fma(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows,
                                          const float* w, float bias, float* y, float* y_next) {
    if (y_next) row_pass<true>(width, kh, kw, dw, rows, w, bias, y, y_next);
    else row_pass<false>(width, kh, kw, dw, rows, w, bias, y, nullptr);
}

}  // namespace fastconv::dwconv
