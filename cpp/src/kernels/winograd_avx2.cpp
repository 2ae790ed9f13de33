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

    // One position's staged block, `tiles` rows of 8 lanes (row i at src + 8 i, 32-byte aligned),
    // into the packed layout dst[l * 6 + i] (rows past `tiles` zero), for the 6-row tile of AVX2's
    // GEMM: the 6 x 8 block transposed in registers (unpack and shuffle, as the first stages of an
    // 8 x 8 transpose) and 6 values stored per lane, where the element loop cost 48 scalar moves
    // per position (Zen 3, channels-last Winograd: resnet_3x3_28 and _56 13-15% faster, conv3d_video
    // 16%, vgg_3x3_224 27%, medians of interleaved calls).
    static bool transpose_tiles(const T* src, int64_t tiles, int mr, T* dst) {
        if (mr != 6) return false;
        V r[6];
        for (int i = 0; i < 6; ++i) r[i] = i < tiles ? _mm256_load_ps(src + 8 * i) : _mm256_setzero_ps();
        const V a0 = _mm256_unpacklo_ps(r[0], r[1]), a1 = _mm256_unpackhi_ps(r[0], r[1]);
        const V a2 = _mm256_unpacklo_ps(r[2], r[3]), a3 = _mm256_unpackhi_ps(r[2], r[3]);
        const V a4 = _mm256_unpacklo_ps(r[4], r[5]), a5 = _mm256_unpackhi_ps(r[4], r[5]);
        const V b0 = _mm256_shuffle_ps(a0, a2, 0x44), b1 = _mm256_shuffle_ps(a0, a2, 0xEE);
        const V b2 = _mm256_shuffle_ps(a1, a3, 0x44), b3 = _mm256_shuffle_ps(a1, a3, 0xEE);
        const V b4 = _mm256_shuffle_ps(a4, a4, 0x44), b5 = _mm256_shuffle_ps(a4, a4, 0xEE);
        const V b6 = _mm256_shuffle_ps(a5, a5, 0x44), b7 = _mm256_shuffle_ps(a5, a5, 0xEE);
        // Lane l of every row: rows 0-3 in b(l % 4), low half for l < 4; rows 4-5 in the low two
        // floats of b(4 + l % 4)'s same half.
        const V lanes03[4] = {b0, b1, b2, b3}, lanes45[4] = {b4, b5, b6, b7};
        for (int l = 0; l < 8; ++l) {
            const __m128 first = l < 4 ? _mm256_castps256_ps128(lanes03[l % 4]) : _mm256_extractf128_ps(lanes03[l % 4], 1);
            const __m128 last = l < 4 ? _mm256_castps256_ps128(lanes45[l % 4]) : _mm256_extractf128_ps(lanes45[l % 4], 1);
            _mm_storeu_ps(dst + 6 * l, first);
            _mm_storel_pi(reinterpret_cast<__m64*>(dst + 6 * l + 4), last);
        }
        return true;
    }
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
