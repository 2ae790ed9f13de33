// im2col and col2im over visit_tap: the column matrix of one image (or a slice of its output
// positions, so callers can keep the buffer within a cache-sized budget).
#include "im2col.hpp"

#include <algorithm>

#include "layout.hpp"

namespace fastconv {

template <typename T>
void im2col(const ConvProblem& p, const T* x, int64_t channels, int64_t begin, int64_t end, T* columns,
            int64_t ld) {
    const int64_t in_spatial = p.in_spatial();
    const int64_t taps = p.kernel_spatial();
    for (int64_t c = 0; c < channels; ++c) {
        const T* x_channel = x + c * in_spatial;
        for_each_tap(p, [&](int64_t kd, int64_t kh, int64_t kw, int64_t tap) {
            T* row = columns + (c * taps + tap) * ld;
            visit_tap(
                p, kd, kh, kw, begin, end, [&](int64_t pos, int64_t count) { std::fill_n(row + (pos - begin), count, T(0)); },
                [&](int64_t pos, int64_t count, int64_t offset, int64_t stride) {
                    const T* src = x_channel + offset;
                    T* dst = row + (pos - begin);
                    if (stride == 1) {
                        std::copy_n(src, count, dst);
                    } else if (stride == 2) {
                        copy_even(src, count, dst);
                    } else {
                        for (int64_t j = 0; j < count; ++j) dst[j] = src[j * stride];
                    }
                });
        });
    }
}

template <typename T>
void col2im_add(const ConvProblem& p, const T* columns, int64_t ld, int64_t channels, int64_t begin,
                int64_t end, T* x) {
    const int64_t in_spatial = p.in_spatial();
    const int64_t taps = p.kernel_spatial();
    for (int64_t c = 0; c < channels; ++c) {
        T* x_channel = x + c * in_spatial;
        for_each_tap(p, [&](int64_t kd, int64_t kh, int64_t kw, int64_t tap) {
            const T* row = columns + (c * taps + tap) * ld;
            visit_tap(
                p, kd, kh, kw, begin, end, [](int64_t, int64_t) {},
                [&](int64_t pos, int64_t count, int64_t offset, int64_t stride) {
                    const T* src = row + (pos - begin);
                    T* dst = x_channel + offset;
                    for (int64_t j = 0; j < count; ++j) dst[j * stride] += src[j];
                });
        });
    }
}

template void im2col<float>(const ConvProblem&, const float*, int64_t, int64_t, int64_t, float*, int64_t);
template void im2col<double>(const ConvProblem&, const double*, int64_t, int64_t, int64_t, double*, int64_t);
template void col2im_add<float>(const ConvProblem&, const float*, int64_t, int64_t, int64_t, int64_t, float*);
template void col2im_add<double>(const ConvProblem&, const double*, int64_t, int64_t, int64_t, int64_t, double*);

}  // namespace fastconv
