// AVX-512 Winograd transforms (contract in winograd/winograd.hpp; this file alone gets the
// AVX-512 flags): 16 float or 8 double channels of one pixel per zmm register, the channel tail in
// one masked step. The 6x6 intermediate tile (36 vectors) exceeds the 32 registers; the compiler
// keeps the spill in L1, which costs less than splitting the tile into two passes over the input.
#include <immintrin.h>

#include "winograd/tile_transforms.hpp"

namespace fastconv::winograd {
namespace {

struct F32x16 {
    using T = float;
    using V = __m512;
    using Mask = __mmask16;
    static constexpr int64_t kLanes = 16;
    static Mask mask(int64_t n) { return n >= 16 ? Mask(0xFFFF) : Mask((1u << n) - 1); }
    template <bool Full>
    static V load(const T* p, Mask m) {
        if constexpr (Full) return _mm512_loadu_ps(p);
        else return _mm512_maskz_loadu_ps(m, p);
    }
    template <bool Full>
    static void store(T* p, V v, Mask m) {
        if constexpr (Full) _mm512_storeu_ps(p, v);
        else _mm512_mask_storeu_ps(p, m, v);
    }
    static V zero() { return _mm512_setzero_ps(); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
    static V mul(V a, T k) { return _mm512_mul_ps(a, _mm512_set1_ps(k)); }
    static V fma(V a, T k, V b) { return _mm512_fmadd_ps(a, _mm512_set1_ps(k), b); }
};

struct F64x8 {
    using T = double;
    using V = __m512d;
    using Mask = __mmask8;
    static constexpr int64_t kLanes = 8;
    static Mask mask(int64_t n) { return n >= 8 ? Mask(0xFF) : Mask((1u << n) - 1); }
    template <bool Full>
    static V load(const T* p, Mask m) {
        if constexpr (Full) return _mm512_loadu_pd(p);
        else return _mm512_maskz_loadu_pd(m, p);
    }
    template <bool Full>
    static void store(T* p, V v, Mask m) {
        if constexpr (Full) _mm512_storeu_pd(p, v);
        else _mm512_mask_storeu_pd(p, m, v);
    }
    static V zero() { return _mm512_setzero_pd(); }
    static V add(V a, V b) { return _mm512_add_pd(a, b); }
    static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
    static V mul(V a, T k) { return _mm512_mul_pd(a, _mm512_set1_pd(k)); }
    static V fma(V a, T k, V b) { return _mm512_fmadd_pd(a, _mm512_set1_pd(k), b); }
};

// Two-source permute indices for swapping the off-diagonal B x B blocks of rows i and i + B:
// row i keeps its lanes without bit B and takes row i + B's lanes below them (entry 0), row i + B
// the converse (entry 1). Constant tables, so each index is one load from read-only memory.
struct SwapIndex {
    alignas(64) int lanes[2][16];
};

constexpr SwapIndex swap_index(int b) {
    SwapIndex index{};
    for (int j = 0; j < 16; ++j) {
        index.lanes[0][j] = (j & b) ? 16 + j - b : j;
        index.lanes[1][j] = (j & b) ? 16 + j : j + b;
    }
    return index;
}

template <int B>
inline void swap_blocks(__m512* r) {
    static constexpr SwapIndex kIndex = swap_index(B);
    const __m512i low = _mm512_load_si512(kIndex.lanes[0]), high = _mm512_load_si512(kIndex.lanes[1]);
    for (int i = 0; i < 16; ++i) {
        if (i & B) continue;
        const __m512 top = r[i], bottom = r[i + B];
        r[i] = _mm512_permutex2var_ps(top, low, bottom);
        r[i + B] = _mm512_permutex2var_ps(top, high, bottom);
    }
}

// In-place transpose of a 16 x 16 block held as 16 row vectors: the off-diagonal b x b blocks of
// every 2b x 2b block swapped for b = 8, 4, 2, 1, 64 permutes for 256 elements.
inline void transpose_16x16(__m512* r) {
    swap_blocks<8>(r);
    swap_blocks<4>(r);
    swap_blocks<2>(r);
    swap_blocks<1>(r);
}

// The packed float32 input transform: tiles staged as in the generic input_packed_step, then each
// position's (tiles x 16 channels) block is turned around in registers and stored as 16 rows of
// MR tiles, where the generic element loop would cost a load and a store per value (a quarter of
// the whole convolution's time on 128-channel layers).
template <int M, bool Full>
void f32_input_packed_step(const float* const* d, int64_t tiles, int mr, int64_t c, int64_t lanes, float* v,
                           int64_t v_stride) {
    constexpr int A = M + 2;
    alignas(64) float staged[A * A * 16 * 16];
    const __mmask16 mask = F32x16::mask(lanes), row_mask = F32x16::mask(mr);
    for (int64_t i = 0; i < tiles; ++i) input_step<F32x16, M, Full>(d + i * A * A, c, mask, staged + i * 16, 16 * 16);
    for (int xi = 0; xi < A * A; ++xi) {
        __m512 r[16];
        for (int i = 0; i < 16; ++i) r[i] = _mm512_maskz_load_ps(i < tiles ? 0xFFFF : 0, staged + (xi * 16 + i) * 16);
        transpose_16x16(r);
        float* dst = v + xi * v_stride + c * mr;
        for (int64_t l = 0; l < (Full ? 16 : lanes); ++l) _mm512_mask_storeu_ps(dst + l * mr, row_mask, r[l]);
    }
}

template <int M>
void f32_input_packed(int64_t channels, int64_t tiles, int mr, const float* const* d, float* v, int64_t v_stride) {
    int64_t c = 0;
    for (; c + 16 <= channels; c += 16) f32_input_packed_step<M, true>(d, tiles, mr, c, 16, v, v_stride);
    if (c < channels) f32_input_packed_step<M, false>(d, tiles, mr, c, channels - c, v, v_stride);
}

}  // namespace

void f32_winograd_filter_4x4_3x3__avx512f(int64_t count, const float* w, int64_t w_stride, float* u, int64_t u_stride) {
    filter_tile<F32x16, 4>(count, w, w_stride, u, u_stride);
}
void f32_winograd_filter_2x2_3x3__avx512f(int64_t count, const float* w, int64_t w_stride, float* u, int64_t u_stride) {
    filter_tile<F32x16, 2>(count, w, w_stride, u, u_stride);
}
void f64_winograd_filter_4x4_3x3__avx512f(int64_t count, const double* w, int64_t w_stride, double* u,
                                          int64_t u_stride) {
    filter_tile<F64x8, 4>(count, w, w_stride, u, u_stride);
}
void f64_winograd_filter_2x2_3x3__avx512f(int64_t count, const double* w, int64_t w_stride, double* u,
                                          int64_t u_stride) {
    filter_tile<F64x8, 2>(count, w, w_stride, u, u_stride);
}
void f32_winograd_input_4x4_3x3__avx512f(int64_t channels, int64_t tiles, int mr, const float* const* d, float* v,
        int64_t v_stride) {
    f32_input_packed<4>(channels, tiles, mr, d, v, v_stride);
}
void f32_winograd_output_4x4_3x3__avx512f(int64_t channels, const float* m, int64_t m_stride, const float* bias,
                                          float* y, int64_t y_row_stride, int64_t y_pixel_stride,
                                          int64_t rows, int64_t cols) {
    output_tile<F32x16, 4>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}
void f32_winograd_input_2x2_3x3__avx512f(int64_t channels, int64_t tiles, int mr, const float* const* d, float* v,
        int64_t v_stride) {
    f32_input_packed<2>(channels, tiles, mr, d, v, v_stride);
}
void f32_winograd_output_2x2_3x3__avx512f(int64_t channels, const float* m, int64_t m_stride, const float* bias,
                                          float* y, int64_t y_row_stride, int64_t y_pixel_stride,
                                          int64_t rows, int64_t cols) {
    output_tile<F32x16, 2>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}
void f64_winograd_input_4x4_3x3__avx512f(int64_t channels, int64_t tiles, int mr, const double* const* d, double* v,
        int64_t v_stride) {
    input_packed<F64x8, 4>(channels, tiles, mr, d, v, v_stride);
}
void f64_winograd_output_4x4_3x3__avx512f(int64_t channels, const double* m, int64_t m_stride, const double* bias,
                                          double* y, int64_t y_row_stride, int64_t y_pixel_stride,
                                          int64_t rows, int64_t cols) {
    output_tile<F64x8, 4>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}
void f64_winograd_input_2x2_3x3__avx512f(int64_t channels, int64_t tiles, int mr, const double* const* d, double* v,
        int64_t v_stride) {
    input_packed<F64x8, 2>(channels, tiles, mr, d, v, v_stride);
}
void f64_winograd_output_2x2_3x3__avx512f(int64_t channels, const double* m, int64_t m_stride, const double* bias,
                                          double* y, int64_t y_row_stride, int64_t y_pixel_stride,
                                          int64_t rows, int64_t cols) {
    output_tile<F64x8, 2>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}

}  // namespace fastconv::winograd
