// Portable Winograd transforms (contract in winograd/winograd.hpp): one channel per step, the
// fallback on every CPU.
#include "winograd/tile_transforms.hpp"

namespace fastconv::winograd {
namespace {

// No FMA here: without the FMA flags std::fma would be a library call per element.
template <typename Scalar>
struct ScalarOps {
    using T = Scalar;
    using V = Scalar;
    using Mask = int;
    static constexpr int64_t kLanes = 1;
    static Mask mask(int64_t) { return 0; }
    template <bool Full>
    static V load(const T* p, Mask) { return *p; }
    template <bool Full>
    static void store(T* p, V v, Mask) { *p = v; }
    static V zero() { return V(0); }
    static V add(V a, V b) { return a + b; }
    static V sub(V a, V b) { return a - b; }
    static V mul(V a, T k) { return a * k; }
    static V fma(V a, T k, V b) { return a * k + b; }
};

}  // namespace

void f32_winograd_filter_4x4_3x3__scalar(int64_t count, const float* w, int64_t w_stride, float* u, int64_t u_stride) {
    filter_tile<ScalarOps<float>, 4>(count, w, w_stride, u, u_stride);
}
void f32_winograd_filter_2x2_3x3__scalar(int64_t count, const float* w, int64_t w_stride, float* u, int64_t u_stride) {
    filter_tile<ScalarOps<float>, 2>(count, w, w_stride, u, u_stride);
}
void f64_winograd_filter_4x4_3x3__scalar(int64_t count, const double* w, int64_t w_stride, double* u,
                                         int64_t u_stride) {
    filter_tile<ScalarOps<double>, 4>(count, w, w_stride, u, u_stride);
}
void f64_winograd_filter_2x2_3x3__scalar(int64_t count, const double* w, int64_t w_stride, double* u,
                                         int64_t u_stride) {
    filter_tile<ScalarOps<double>, 2>(count, w, w_stride, u, u_stride);
}
void f32_winograd_input_4x4_3x3__scalar(int64_t channels, int64_t tiles, int mr, const float* const* d, float* v,
        int64_t v_stride) {
    input_packed<ScalarOps<float>, 4>(channels, tiles, mr, d, v, v_stride);
}
void f32_winograd_output_4x4_3x3__scalar(int64_t channels, const float* m, int64_t m_stride, const float* bias,
                                         float* y,
                                         int64_t y_row_stride, int64_t y_pixel_stride, int64_t rows, int64_t cols) {
    output_tile<ScalarOps<float>, 4>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}
void f32_winograd_input_2x2_3x3__scalar(int64_t channels, int64_t tiles, int mr, const float* const* d, float* v,
        int64_t v_stride) {
    input_packed<ScalarOps<float>, 2>(channels, tiles, mr, d, v, v_stride);
}
void f32_winograd_output_2x2_3x3__scalar(int64_t channels, const float* m, int64_t m_stride, const float* bias,
                                         float* y,
                                         int64_t y_row_stride, int64_t y_pixel_stride, int64_t rows, int64_t cols) {
    output_tile<ScalarOps<float>, 2>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}
void f64_winograd_input_4x4_3x3__scalar(int64_t channels, int64_t tiles, int mr, const double* const* d, double* v,
        int64_t v_stride) {
    input_packed<ScalarOps<double>, 4>(channels, tiles, mr, d, v, v_stride);
}
void f64_winograd_output_4x4_3x3__scalar(int64_t channels, const double* m, int64_t m_stride, const double* bias,
                                         double* y, int64_t y_row_stride, int64_t y_pixel_stride,
                                         int64_t rows, int64_t cols) {
    output_tile<ScalarOps<double>, 4>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}
void f64_winograd_input_2x2_3x3__scalar(int64_t channels, int64_t tiles, int mr, const double* const* d, double* v,
        int64_t v_stride) {
    input_packed<ScalarOps<double>, 2>(channels, tiles, mr, d, v, v_stride);
}
void f64_winograd_output_2x2_3x3__scalar(int64_t channels, const double* m, int64_t m_stride, const double* bias,
                                         double* y, int64_t y_row_stride, int64_t y_pixel_stride,
                                         int64_t rows, int64_t cols) {
    output_tile<ScalarOps<double>, 2>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}

}  // namespace fastconv::winograd
