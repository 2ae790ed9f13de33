// Depthwise convolution microkernels (XNNPACK's "dwconv"): one output pixel, every channel. The
// caller hands one pointer per kernel tap to the C channels that pixel reads through the tap (or
// to a zero row for padding), so stride, dilation and padding live in the pointers; the kernel
// walks the channels in vectors, which is how a channels-last depthwise layer vectorises.
#pragma once

#include <cstdint>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace fastconv::dwconv {

// y[c] = bias[c] (or 0) + sum over t < ks of a[t][c] * w[t * channels + c], for c < channels; each
// element one FMA chain in tap order.
using UkernelFn = void (*)(int64_t channels, int64_t ks, const float* const* a, const float* w, const float* bias,
                           float* y);

// Channels-first (CHW) row kernel for stride-1 widths: one output row of one channel from a
// zero-padded copy of that channel's plane, vectorised along the row:
// y[ow] = bias + sum over (r, s) < (kh, kw) of rows[r][ow + s * dw] * w[r * kw + s], ow < width,
// where rows[r] is the padded input row that kernel row r reads, readable for 32 floats past the
// last one the outputs need (width + (kw - 1) * dw), so vector loads past the row's end need no mask.
// With y_next, also the next output row of a layer with unit stride and dilation along the height,
// which reads rows[1 .. kh] (rows then has kh + 1 entries): each input vector is loaded once for
// both rows, and the two rows' accumulators are twice the independent FMA chains. Each element is
// one FMA chain in (r, s) order either way, so a pair gives two single rows' bits.
using RowUkernelFn = void (*)(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows,
                              const float* w, float bias, float* y, float* y_next);

// Channels-last kernel for 3x3 windows with unit stride and dilation along the width: four
// consecutive output pixels of one row, every channel. The four pixels read six input columns per
// kernel row, and each column's vector is loaded once for the (up to three) pixels that use it, where
// the one-pixel kernel loads an input and a weight vector per FMA. cols[r * 6 + j] points at the C
// channels of column j (the first pixel's leftmost input column + j) in kernel row r, or at zeros:
// y[p * channels + c] = bias[c] (or 0) + sum over r, s < 3 of cols[r * 6 + p + s][c] * w[(r * 3 + s) * channels + c],
// each element one FMA chain in tap order, so it gives the one-pixel kernel's bits. With stream
// (allowed only where y is 64-byte aligned and channels a multiple of 16), the vector kernels store
// with non-temporal stores, which the caller orders with fence_streaming_stores.
using Rows4UkernelFn = void (*)(int64_t channels, const float* const* cols, const float* w, const float* bias,
                                float* y, bool stream);

struct Ukernel {
    const char* name;
    Isa isa;
    UkernelFn fn;
    RowUkernelFn row_fn;
    Rows4UkernelFn rows4_fn;
};

// Every compiled kernel, best ISA first, ending with the portable one; and the one dispatch uses.
const std::vector<Ukernel>& ukernels();
const Ukernel& active_ukernel();

void f32_dwconv_ukernel_c64__avx512f(int64_t channels, int64_t ks, const float* const* a, const float* w,
                                     const float* bias, float* y);
void f32_dwconv_ukernel_c32__avx2_fma(int64_t channels, int64_t ks, const float* const* a, const float* w,
                                      const float* bias, float* y);
void f32_dwconv_chw_row_ukernel__avx512f(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows,
                                         const float* w, float bias, float* y, float* y_next);
void f32_dwconv_chw_row_ukernel__avx2_fma(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows,
                                          const float* w, float bias, float* y, float* y_next);
void f32_dwconv_chw_row_ukernel__scalar(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows,
                                        const float* w, float bias, float* y, float* y_next);
void f32_dwconv_3x3_rows4_ukernel__avx512f(int64_t channels, const float* const* cols, const float* w,
                                           const float* bias, float* y, bool stream);
void f32_dwconv_3x3_rows4_ukernel__avx2_fma(int64_t channels, const float* const* cols, const float* w,
                                            const float* bias, float* y, bool stream);
void f32_dwconv_3x3_rows4_ukernel__scalar(int64_t channels, const float* const* cols, const float* w,
                                          const float* bias, float* y, bool stream);
void f32_dwconv_ukernel_c1__scalar(int64_t channels, int64_t ks, const float* const* a, const float* w,
                                   const float* bias, float* y);

}  // namespace fastconv::dwconv
