// Portable depthwise microkernel (contract in dwconv/dwconv.hpp): the fallback on every CPU.
#include "dwconv/dwconv.hpp"

namespace fastconv::dwconv {

void f32_dwconv_ukernel_c1__scalar(int64_t channels, int64_t ks, const float* const* a, const float* w,
                                   const float* bias, float* y) {
    for (int64_t c = 0; c < channels; ++c) {
        float acc = bias ? bias[c] : 0.0f;
        for (int64_t t = 0; t < ks; ++t) acc += a[t][c] * w[t * channels + c];
        y[c] = acc;
    }
}

// Portable C++ has no non-temporal store, so `stream` changes nothing here.
void f32_dwconv_3x3_rows4_ukernel__scalar(int64_t channels, const float* const* cols, const float* w,
                                          const float* bias, float* y, bool /*stream*/) {
    for (int64_t p = 0; p < 4; ++p)
        for (int64_t c = 0; c < channels; ++c) {
            float acc = bias ? bias[c] : 0.0f;
            for (int64_t r = 0; r < 3; ++r)
                for (int64_t s = 0; s < 3; ++s) acc += cols[r * 6 + p + s][c] * w[(r * 3 + s) * channels + c];
            y[p * channels + c] = acc;
        }
}

void f32_dwconv_chw_row_ukernel__scalar(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows,
                                        const float* w, float bias, float* y, float* y_next) {
    for (int64_t pair = 0; pair < (y_next ? 2 : 1); ++pair) {
        float* out = pair ? y_next : y;
        for (int64_t ow = 0; ow < width; ++ow) {
            float acc = bias;
            for (int64_t r = 0; r < kh; ++r)
                for (int64_t s = 0; s < kw; ++s) acc += rows[pair + r][ow + s * dw] * w[r * kw + s];
            out[ow] = acc;
        }
    }
}

}  // namespace fastconv::dwconv
