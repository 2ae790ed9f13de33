// Traversals of the index mapping (index_map.hpp) over a range of flattened output positions, and
// the im2col / col2im built on them. The direct kernels use visit_tap too, so padding and tails are
// handled by one piece of code everywhere.
#pragma once

#include <cstdint>

#include "fastconv/index_map.hpp"
#include "fastconv/problem.hpp"

namespace fastconv {

// For kernel tap (kd, kh, kw), walks the flattened output positions [begin, end) one output row
// (fixed od, oh) at a time and reports runs:
//   on_padding(pos, count)                     positions pos..pos+count-1 read padding;
//   on_valid(pos, count, x_offset, x_stride)   position pos+j reads x[x_offset + j * x_stride]
// where x_offset indexes one channel's spatial block (in_spatial elements).
template <typename OnPadding, typename OnValid>
void visit_tap(const ConvProblem& p, int64_t kd, int64_t kh, int64_t kw, int64_t begin, int64_t end,
               OnPadding&& on_padding, OnValid&& on_valid) {
    const int64_t out_w = p.out_size[2];
    const int64_t out_hw = p.out_size[1] * out_w;
    const OutputRange w_range =
        valid_outputs(kw, p.in_size[2], out_w, p.stride[2], p.dilation[2], p.pad_before[2]);
    const int64_t w_shift = kw * p.dilation[2] - p.pad_before[2];
    if (begin >= end) return;
    // The row's coordinates step along instead of being divided out of pos: three 64-bit
    // divisions cost more than copying a short row (a strided 1x1 layer's 14-pixel rows).
    int64_t od = begin / out_hw, oh = (begin % out_hw) / out_w, ow0 = begin % out_w;
    int64_t pos = begin;
    while (pos < end) {
        const int64_t ow1 = std::min(out_w, ow0 + (end - pos));
        const int64_t id = input_index(od, kd, p.stride[0], p.dilation[0], p.pad_before[0]);
        const int64_t ih = input_index(oh, kh, p.stride[1], p.dilation[1], p.pad_before[1]);
        if (id < 0 || id >= p.in_size[0] || ih < 0 || ih >= p.in_size[1]) {
            on_padding(pos, ow1 - ow0);
        } else {
            const int64_t body0 = std::min(std::max(ow0, w_range.begin), ow1);
            const int64_t body1 = std::max(body0, std::min(ow1, w_range.end));
            if (body0 > ow0) on_padding(pos, body0 - ow0);
            if (body1 > body0) {
                const int64_t row = (id * p.in_size[1] + ih) * p.in_size[2];
                on_valid(pos + (body0 - ow0), body1 - body0, row + body0 * p.stride[2] + w_shift, p.stride[2]);
            }
            if (ow1 > body1) on_padding(pos + (body1 - ow0), ow1 - body1);
        }
        pos += ow1 - ow0;
        ow0 = 0;
        if (++oh == p.out_size[1]) oh = 0, ++od;
    }
}

// Calls fn(kd, kh, kw, tap) for every kernel tap in (kd, kh, kw) row-major order, the order of the
// weight layout and of the im2col rows.
template <typename Fn>
void for_each_tap(const ConvProblem& p, Fn&& fn) {
    int64_t tap = 0;
    for (int64_t kd = 0; kd < p.kernel[0]; ++kd)
        for (int64_t kh = 0; kh < p.kernel[1]; ++kh)
            for (int64_t kw = 0; kw < p.kernel[2]; ++kw) fn(kd, kh, kw, tap++);
}

// columns[((c * kernel_spatial) + tap) * ld + (pos - begin)] = x[c][input position of pos, tap]
// for c in [0, channels), pos in [begin, end); x points at the first of those channels.
template <typename T>
void im2col(const ConvProblem& p, const T* x, int64_t channels, int64_t begin, int64_t end, T* columns,
            int64_t ld);

// The adjoint of im2col: x[c][input position] += columns[...] for every entry that reads input.
template <typename T>
void col2im_add(const ConvProblem& p, const T* columns, int64_t ld, int64_t channels, int64_t begin,
                int64_t end, T* x);

}  // namespace fastconv
