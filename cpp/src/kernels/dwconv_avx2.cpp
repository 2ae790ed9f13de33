// AVX2+FMA depthwise microkernel (contract in dwconv/dwconv.hpp; this file alone gets the AVX2
// flags). Four vectors (32 channels) per step for four independent FMA chains; the channel tail
// runs one vector at a time through maskload/maskstore.
#include <immintrin.h>

#include "dwconv/dwconv.hpp"

namespace fastconv::dwconv {

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
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (; c < channels; c += 8) {
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(channels - c)), lane);
        __m256 acc = bias ? _mm256_maskload_ps(bias + c, mask) : _mm256_setzero_ps();
        for (int64_t t = 0; t < ks; ++t)
            acc = _mm256_fmadd_ps(_mm256_maskload_ps(a[t] + c, mask), _mm256_maskload_ps(w + t * channels + c, mask), acc);
        _mm256_maskstore_ps(y + c, mask, acc);
    }
}

namespace {

// NV vectors of outputs at once, each its own FMA chain over the kh x kw taps: one chain per row
// would wait out the FMA latency on every tap (9 dependent FMAs per 8 outputs ran at 9% of peak
// on resnet-sized rows). Loads are never masked: the caller's rows are padded past the row's end.
// Only the last vector's store is masked where the row ends inside it, since a masked store costs
// Zen 3 about a dozen cycles (four of them per 56-wide row cost depthwise_3x3 a fifth of its time).
template <int NV>
inline void row_block(int64_t ow, int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows,
                      const float* w, __m256 b, float* y) {
    __m256 acc[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[v] = b;
    for (int64_t r = 0; r < kh; ++r)
        for (int64_t s = 0; s < kw; ++s) {
            const __m256 weight = _mm256_set1_ps(w[r * kw + s]);
            const float* x = rows[r] + ow + s * dw;
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[v] = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8 * v), weight, acc[v]);
        }
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

}  // namespace

// Four vectors (32 outputs) per step; the last up-to-31 outputs in one step of as many vectors as
// they need (56 = 32 + 24 needs no mask at all).
void f32_dwconv_chw_row_ukernel__avx2_fma(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows,
                                          const float* w, float bias, float* y) {
    const __m256 b = _mm256_set1_ps(bias);
    int64_t ow = 0;
    for (; ow + 32 <= width; ow += 32) row_block<4>(ow, width, kh, kw, dw, rows, w, b, y);
    switch ((width - ow + 7) / 8) {
        case 4: row_block<4>(ow, width, kh, kw, dw, rows, w, b, y); break;
        case 3: row_block<3>(ow, width, kh, kw, dw, rows, w, b, y); break;
        case 2: row_block<2>(ow, width, kh, kw, dw, rows, w, b, y); break;
        case 1: row_block<1>(ow, width, kh, kw, dw, rows, w, b, y); break;
        default: break;
    }
}

}  // namespace fastconv::dwconv
