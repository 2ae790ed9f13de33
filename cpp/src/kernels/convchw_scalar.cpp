// Portable channels-first direct microkernel (contract in convchw/convchw.hpp): the fallback on
// every CPU and the one aarch64 builds run. The accumulator tile has compile-time bounds so it can
// live in registers; columns outside the input row are skipped, which is what the SIMD kernels'
// masks do.
#include "convchw/convchw.hpp"
#include "kernels/conv_chw_flat_tile.hpp"

namespace fastconv::convchw {
namespace {

struct F32Scalar {
    using Vec = float;
    static constexpr int lanes = 1;
    static Vec zero() { return 0.0f; }
    static Vec load(const float* p) { return *p; }
    static void store(float* p, Vec v) { *p = v; }
    static Vec broadcast(const float* p) { return *p; }
    static Vec fma(Vec a, Vec b, Vec c) { return a * b + c; }  // std::fma is a libm call without FMA
};

}  // namespace

void f32_conv_chw_flat_ukernel_4x8__scalar(const FlatTileArgs& args) { flat_tile<F32Scalar, 4, 8>(args); }

void f32_conv_chw_ukernel_4x8__scalar(const TileArgs& t) {
    constexpr int KB = 4, P = 8;
    float acc[KB][P];
    for (int k = 0; k < KB; ++k)
        for (int j = 0; j < P; ++j)
            acc[k][j] = t.accumulate && k < t.kb && j < t.width ? t.y[k * t.y_stride + j]
                        : t.bias && k < t.kb                    ? t.bias[k]
                                                                : 0.0f;
    const float* w = t.w;
    for (int64_t c = 0; c < t.channels; ++c) {
        for (int64_t r = 0; r < t.kh; ++r) {
            if (t.rows[r] < 0) {
                w += t.kw * KB;
                continue;
            }
            const float* x_row = t.x + c * t.x_stride + t.rows[r];
            for (int64_t s = 0; s < t.kw; ++s, w += KB)
                for (int j = 0; j < P; ++j) {
                    const int64_t column = t.col + s * t.dw + j;
                    const float x = j < t.width && column >= 0 && column < t.in_width ? x_row[column] : 0.0f;
                    for (int k = 0; k < KB; ++k) acc[k][j] += w[k] * x;
                }
        }
    }
    for (int64_t k = 0; k < t.kb; ++k)
        for (int64_t j = 0; j < t.width; ++j) t.y[k * t.y_stride + j] = acc[k][j];
}

}  // namespace fastconv::convchw
