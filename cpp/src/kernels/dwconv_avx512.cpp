// AVX-512 depthwise microkernels (contract in dwconv/dwconv.hpp; this file alone gets the AVX-512
// flags). One pixel: four vectors (64 channels) per step give four independent FMA chains, enough
// to cover the FMA latency while each tap costs two loads per FMA (the layer is load-bound, not
// FMA-bound); four pixels of a 3x3 window: see rows4_block. Channel tails run one masked vector at
// a time, never scalar.
#include <immintrin.h>

#include "dwconv/dwconv.hpp"
#include "kernels/dwconv_chw_row.hpp"
#include "kernels/vec_avx512.hpp"

namespace fastconv::dwconv {
namespace {

__mmask16 first_lanes(int64_t lanes) { return lanes >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << lanes) - 1); }

// Channels [c, channels) of one pixel, one masked vector at a time.
void tail_channels(int64_t c, int64_t channels, int64_t ks, const float* const* a, const float* w, const float* bias,
                   float* y) {
    for (; c < channels; c += 16) {
        const __mmask16 mask = first_lanes(channels - c);
        __m512 acc = bias ? _mm512_maskz_loadu_ps(mask, bias + c) : _mm512_setzero_ps();
        for (int64_t t = 0; t < ks; ++t)
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a[t] + c), _mm512_maskz_loadu_ps(mask, w + t * channels + c),
                                  acc);
        _mm512_mask_storeu_ps(y + c, mask, acc);
    }
}

}  // namespace

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
    tail_channels(c, channels, ks, a, w, bias, y);
}

namespace {

// NV vectors of channels x 4 pixels, as the AVX2 kernel: 4 * NV accumulators, the kernel row's
// 3 * NV weight vectors and one input column vector, loaded once for every pixel that reads it. At
// NV = 4 that is 29 of the 32 registers. kMasked (NV = 1) covers the last < 16 channels with the
// same FMA chains, so the tail needs no one-pixel fallback.
template <int NV, bool kMasked>
inline void rows4_block(int64_t c, int64_t channels, const float* const* cols, const float* w, const float* bias,
                        float* y, __mmask16 mask, bool stream) {
    const auto load = [=](const float* p) {
        if constexpr (kMasked) {
            return _mm512_maskz_loadu_ps(mask, p);
        } else {
            return _mm512_loadu_ps(p);
        }
    };
    __m512 acc[4][NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
        const __m512 b = bias ? load(bias + c + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 4
        for (int p = 0; p < 4; ++p) acc[p][v] = b;
    }
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r) {
        __m512 wr[3][NV];
#pragma GCC unroll 3
        for (int s = 0; s < 3; ++s)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) wr[s][v] = load(w + (r * 3 + s) * channels + c + 16 * v);
        // Column j feeds pixel p through kernel column s = j - p; ascending j keeps each pixel's
        // taps in order, the one-pixel kernel's chain.
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                const __m512 x = load(cols[r * 6 + j] + c + 16 * v);
#pragma GCC unroll 4
                for (int p = 0; p < 4; ++p)
                    if (j - p >= 0 && j - p < 3) acc[p][v] = _mm512_fmadd_ps(x, wr[j - p][v], acc[p][v]);
            }
    }
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
            float* out = y + p * channels + c + 16 * v;
            if constexpr (kMasked) {
                _mm512_mask_storeu_ps(out, mask, acc[p][v]);
            } else if (stream) {
                _mm512_stream_ps(out, acc[p][v]);
            } else {
                _mm512_storeu_ps(out, acc[p][v]);
            }
        }
}

}  // namespace

void f32_dwconv_3x3_rows4_ukernel__avx512f(int64_t channels, const float* const* cols, const float* w,
                                           const float* bias, float* y, bool stream) {
    int64_t c = 0;
    for (; c + 64 <= channels; c += 64) rows4_block<4, false>(c, channels, cols, w, bias, y, 0xFFFF, stream);
    for (; c + 16 <= channels; c += 16) rows4_block<1, false>(c, channels, cols, w, bias, y, 0xFFFF, stream);
    if (c < channels) rows4_block<1, true>(c, channels, cols, w, bias, y, first_lanes(channels - c), false);
}

namespace {

// The shared traits with a store of a vector's first `count` lanes, and a load whose register the
// empty asm pins (an operand GCC cannot fold into the FMAs that read it).
struct F32ZmmRow : simd::F32Zmm {
    static void store_first(float* p, Vec v, int64_t count) { _mm512_mask_storeu_ps(p, first_lanes(count), v); }
    static Vec load_kept(const float* p) {
        Vec v = _mm512_loadu_ps(p);
        asm("" : "+v"(v));
        return v;
    }
};

}  // namespace

void f32_dwconv_chw_row_ukernel__avx512f(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows,
                                         const float* w, float bias, float* y, float* y_next) {
    chw_row<F32ZmmRow>(width, kh, kw, dw, rows, w, bias, y, y_next);
}

}  // namespace fastconv::dwconv
