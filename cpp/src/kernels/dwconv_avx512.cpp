// AVX-512 depthwise microkernel (contract in dwconv/dwconv.hpp; this file alone gets the AVX-512
// flags). Four vectors (64 channels) per step give four independent FMA chains, enough to cover
// the FMA latency while each tap costs two loads per FMA (the layer is load-bound, not FMA-bound);
// the channel tail runs one vector at a time with masked loads and stores, never scalar.
#include <immintrin.h>

#include "dwconv/dwconv.hpp"

namespace fastconv::dwconv {

void f32_dwconv_ukernel_c64__avx512f(int64_t channels, int64_t ks, const float* const* a, const float* w,
                                     const float* bias, float* y) {
    int64_t c = 0;
    for (; c + 64 <= channels; c += 64) {
        __m512 acc[4];
        for (int v = 0; v < 4; ++v) acc[v] = bias ? _mm512_loadu_ps(bias + c + 16 * v) : _mm512_setzero_ps();
        for (int64_t t = 0; t < ks; ++t) {
            const float* x = a[t] + c;
            const float* wt = w + t * channels + c;
            for (int v = 0; v < 4; ++v)
                acc[v] = _mm512_fmadd_ps(_mm512_loadu_ps(x + 16 * v), _mm512_loadu_ps(wt + 16 * v), acc[v]);
        }
        for (int v = 0; v < 4; ++v) _mm512_storeu_ps(y + c + 16 * v, acc[v]);
    }
    for (; c < channels; c += 16) {
        const int64_t lanes = channels - c < 16 ? channels - c : 16;
        const __mmask16 mask = lanes == 16 ? __mmask16(0xFFFF) : __mmask16((1u << lanes) - 1);
        __m512 acc = bias ? _mm512_maskz_loadu_ps(mask, bias + c) : _mm512_setzero_ps();
        for (int64_t t = 0; t < ks; ++t)
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a[t] + c), _mm512_maskz_loadu_ps(mask, w + t * channels + c),
                                  acc);
        _mm512_mask_storeu_ps(y + c, mask, acc);
    }
}

// Two vectors (32 outputs) per step for two FMA chains; the row tail uses masked loads and
// stores. Reads past the row's valid width stay inside the padded plane copy the caller made.
void f32_dwconv_chw_row_ukernel__avx512f(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows,
                                         const float* w, float bias, float* y) {
    const __m512 b = _mm512_set1_ps(bias);
    for (int64_t ow = 0; ow < width; ow += 32) {
        const int64_t n0 = width - ow < 16 ? width - ow : 16;
        const int64_t n1 = width - ow - 16 < 0 ? 0 : (width - ow - 16 < 16 ? width - ow - 16 : 16);
        const __mmask16 m0 = n0 == 16 ? __mmask16(0xFFFF) : __mmask16((1u << n0) - 1);
        const __mmask16 m1 = n1 == 16 ? __mmask16(0xFFFF) : __mmask16((1u << n1) - 1);
        __m512 acc0 = b, acc1 = b;
        for (int64_t r = 0; r < kh; ++r)
            for (int64_t s = 0; s < kw; ++s) {
                const float* x = rows[r] + ow + s * dw;
                const __m512 wv = _mm512_set1_ps(w[r * kw + s]);
                acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, x), wv, acc0);
                acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, x + 16), wv, acc1);
            }
        _mm512_mask_storeu_ps(y + ow, m0, acc0);
        _mm512_mask_storeu_ps(y + ow + 16, m1, acc1);
    }
}

}  // namespace fastconv::dwconv
