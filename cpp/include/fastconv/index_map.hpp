// The one index mapping of fastconv: which input position an output position reads through a kernel
// tap. im2col, col2im, unfold/fold, the direct kernels (forward and transposed) and the explorer's
// pictures all derive their loops from these two functions, so the geometry is written once.
//
// Along one spatial dimension, output position o reads input position
//     i = o * stride - pad_before + r * dilation           (r = kernel tap)
// and reads padding (a zero) when i falls outside [0, in). Instead of testing every element, kernels
// ask for the contiguous range of o whose reads are valid for a tap and split each row into a
// padded head, a valid body and a padded tail. The transposed direction uses the same range: the
// outputs o in it scatter to (or, gathered, are read by) i = o*stride - pad_before + r*dilation.
#pragma once

#include <algorithm>
#include <cstdint>

namespace fastconv {

inline int64_t input_index(int64_t o, int64_t r, int64_t stride, int64_t dilation,
                           int64_t pad_before) {
    return o * stride - pad_before + r * dilation;
}

// floor(a / b) and ceil(a / b) for b > 0 and any sign of a, without an intermediate that could
// overflow (a + b - 1 did for a stride near 2^63: libFuzzer + UBSan found it).
inline int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && a < 0); }
inline int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0 && a > 0); }

// Output positions [begin, end) whose tap r reads a real input element (0 <= i < in); begin == end
// when the tap only ever reads padding.
struct OutputRange {
    int64_t begin;
    int64_t end;
    int64_t size() const { return end - begin; }
};

inline OutputRange valid_outputs(int64_t r, int64_t in, int64_t out, int64_t stride,
                                 int64_t dilation, int64_t pad_before) {
    const int64_t offset = pad_before - r * dilation;  // i = o*stride - offset
    const int64_t begin = std::min(out, std::max<int64_t>(0, ceil_div(offset, stride)));
    const int64_t end = std::max(begin, std::min(out, floor_div(in - 1 + offset, stride) + 1));
    return {begin, end};
}

}  // namespace fastconv
