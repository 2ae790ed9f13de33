// AVX2 + FMA Winograd transforms (contract in winograd/winograd.hpp; this file alone gets the
// AVX2 flags): 8 float or 4 double channels of one pixel per ymm register, the channel tail in one
// step through vmaskmov, whose masked-off lanes neither fault nor write.
#include <immintrin.h>

#include "winograd/tile_transforms.hpp"

namespace fastconv::winograd {
namespace {

struct F32x8 {
    using T = float;
    using V = __m256;
    using Mask = __m256i;
    static constexpr int64_t kLanes = 8;
    static Mask mask(int64_t n) {
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    template <bool Full>
    static V load(const T* p, Mask m) {
        if constexpr (Full) return _mm256_loadu_ps(p);
        else return _mm256_maskload_ps(p, m);
    }
    template <bool Full>
    static void store(T* p, V v, Mask m) {
        if constexpr (Full) _mm256_storeu_ps(p, v);
        else _mm256_maskstore_ps(p, m, v);
    }
    static V zero() { return _mm256_setzero_ps(); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
    static V mul(V a, T k) { return _mm256_mul_ps(a, _mm256_set1_ps(k)); }
    static V fma(V a, T k, V b) { return _mm256_fmadd_ps(a, _mm256_set1_ps(k), b); }
};

struct F64x4 {
    using T = double;
    using V = __m256d;
    using Mask = __m256i;
    static constexpr int64_t kLanes = 4;
    static Mask mask(int64_t n) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)); }
    template <bool Full>
    static V load(const T* p, Mask m) {
        if constexpr (Full) return _mm256_loadu_pd(p);
        else return _mm256_maskload_pd(p, m);
    }
    template <bool Full>
    static void store(T* p, V v, Mask m) {
        if constexpr (Full) _mm256_storeu_pd(p, v);
        else _mm256_maskstore_pd(p, m, v);
    }
    static V zero() { return _mm256_setzero_pd(); }
    static V add(V a, V b) { return _mm256_add_pd(a, b); }
    static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
    static V mul(V a, T k) { return _mm256_mul_pd(a, _mm256_set1_pd(k)); }
    static V fma(V a, T k, V b) { return _mm256_fmadd_pd(a, _mm256_set1_pd(k), b); }
};

}  // namespace

void f32_winograd_filter_4x4_3x3__avx2_fma(int64_t count, const float* w, int64_t w_stride, float* u,
                                           int64_t u_stride) {
    filter_tile<F32x8, 4>(count, w, w_stride, u, u_stride);
}
void f32_winograd_filter_2x2_3x3__avx2_fma(int64_t count, const float* w, int64_t w_stride, float* u,
                                           int64_t u_stride) {
    filter_tile<F32x8, 2>(count, w, w_stride, u, u_stride);
}
void f64_winograd_filter_4x4_3x3__avx2_fma(int64_t count, const double* w, int64_t w_stride, double* u,
                                           int64_t u_stride) {
    filter_tile<F64x4, 4>(count, w, w_stride, u, u_stride);
}
void f64_winograd_filter_2x2_3x3__avx2_fma(int64_t count, const double* w, int64_t w_stride, double* u,
                                           int64_t u_stride) {
    filter_tile<F64x4, 2>(count, w, w_stride, u, u_stride);
}
void f32_winograd_input_4x4_3x3__avx2_fma(int64_t channels, int64_t tiles, int mr, const float* const* d, float* v,
        int64_t v_stride) {
    input_packed<F32x8, 4>(channels, tiles, mr, d, v, v_stride);
}
void f32_winograd_output_4x4_3x3__avx2_fma(int64_t channels, const float* m, int64_t m_stride, const float* bias,
                                           float* y, int64_t y_row_stride, int64_t y_pixel_stride,
                                           int64_t rows, int64_t cols) {
    output_tile<F32x8, 4>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}
void f32_winograd_input_2x2_3x3__avx2_fma(int64_t channels, int64_t tiles, int mr, const float* const* d, float* v,
        int64_t v_stride) {
    input_packed<F32x8, 2>(channels, tiles, mr, d, v, v_stride);
}
void f32_winograd_output_2x2_3x3__avx2_fma(int64_t channels, const float* m, int64_t m_stride, const float* bias,
                                           float* y, int64_t y_row_stride, int64_t y_pixel_stride,
                                           int64_t rows, int64_t cols) {
    output_tile<F32x8, 2>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}
void f64_winograd_input_4x4_3x3__avx2_fma(int64_t channels, int64_t tiles, int mr, const double* const* d, double* v,
        int64_t v_stride) {
    input_packed<F64x4, 4>(channels, tiles, mr, d, v, v_stride);
}
void f64_winograd_output_4x4_3x3__avx2_fma(int64_t channels, const double* m, int64_t m_stride, const double* bias,
                                           double* y, int64_t y_row_stride, int64_t y_pixel_stride,
                                           int64_t rows, int64_t cols) {
    output_tile<F64x4, 4>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}
void f64_winograd_input_2x2_3x3__avx2_fma(int64_t channels, int64_t tiles, int mr, const double* const* d, double* v,
        int64_t v_stride) {
    input_packed<F64x4, 2>(channels, tiles, mr, d, v, v_stride);
}
void f64_winograd_output_2x2_3x3__avx2_fma(int64_t channels, const double* m, int64_t m_stride, const double* bias,
                                           double* y, int64_t y_row_stride, int64_t y_pixel_stride,
                                           int64_t rows, int64_t cols) {
    output_tile<F64x4, 2>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}

}  // namespace fastconv::winograd
