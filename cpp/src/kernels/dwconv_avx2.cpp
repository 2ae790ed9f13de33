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

// One vector (8 outputs) per step; the row tail uses maskload/maskstore.
void f32_dwconv_chw_row_ukernel__avx2_fma(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows,
                                          const float* w, float bias, float* y) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 b = _mm256_set1_ps(bias);
    for (int64_t ow = 0; ow < width; ow += 8) {
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(width - ow)), lane);
        __m256 acc = b;
        for (int64_t r = 0; r < kh; ++r)
            for (int64_t s = 0; s < kw; ++s)
                acc = _mm256_fmadd_ps(_mm256_maskload_ps(rows[r] + ow + s * dw, mask), _mm256_set1_ps(w[r * kw + s]), acc);
        _mm256_maskstore_ps(y + ow, mask, acc);
    }
}

}  // namespace fastconv::dwconv
