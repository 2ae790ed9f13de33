// The one description of a convolution's geometry that every implementation, test and picture reads.
//
// Everything is described in the *forward* view, CUTLASS-style:
//     x (N, C, in...)  *  w (K, C/groups, kernel...)  ->  y (N, K, out...)
// A transposed convolution is the data gradient of that forward convolution: it reads y and writes x.
// torch's conv_transpose weight (C_in, C_out/groups, kernel...) is exactly w in this view (C_in = K,
// C_out = C), so both ops share one weight layout and one index mapping (see index_map.hpp).
//
// Spatial dimensions are right-aligned in 3-slot arrays: a 1-D problem keeps its length in slot 2 and
// has size 1, kernel 1, stride 1, dilation 1 and padding 0 in slots 0 and 1, so kernels can always loop
// over three dimensions without special cases.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace fastconv {

inline constexpr int kMaxSpatialDims = 3;
using Dims = std::array<int64_t, kMaxSpatialDims>;

// f16 and bf16 (half-precision storage, float32 accumulation) exist only on the GPU; the CPU paths
// take f32 and f64 and reject the others.
enum class DType { f32, f64, f16, bf16 };
enum class ConvKind { forward, transposed };
// Memory order of src and dst (weights are always (K, C/groups, kernel...)). channels_last is
// torch's channels_last / NHWC: (N, spatial..., C) contiguous, so one pixel's channels are adjacent.
enum class Layout { channels_first, channels_last };

const char* dtype_name(DType dtype);
const char* layout_name(Layout layout);
int64_t dtype_size(DType dtype);

struct ConvProblem {
    ConvKind kind = ConvKind::forward;
    DType dtype = DType::f32;
    int ndim = 2;  // spatial dimensions, 1..3
    Layout layout = Layout::channels_first;

    int64_t batch = 1;         // N
    int64_t in_channels = 1;   // C: channels of x (the transposed op's *output* channels)
    int64_t out_channels = 1;  // K: channels of y (the transposed op's *input* channels)
    int64_t groups = 1;

    Dims in_size{1, 1, 1};   // spatial size of x
    Dims out_size{1, 1, 1};  // spatial size of y
    Dims kernel{1, 1, 1};
    Dims stride{1, 1, 1};
    Dims dilation{1, 1, 1};
    Dims pad_before{0, 0, 0};
    // May be negative for a transposed problem: output_padding shortens the forward view's padding
    // at the end (pad_after = transposed padding_after - output_padding) so the sizes stay exact.
    Dims pad_after{0, 0, 0};

    int64_t in_channels_per_group() const { return in_channels / groups; }
    int64_t out_channels_per_group() const { return out_channels / groups; }
    int64_t in_spatial() const { return in_size[0] * in_size[1] * in_size[2]; }
    int64_t out_spatial() const { return out_size[0] * out_size[1] * out_size[2]; }
    int64_t kernel_spatial() const { return kernel[0] * kernel[1] * kernel[2]; }
    // Rows of the im2col matrix of one group: C/groups * prod(kernel).
    int64_t gemm_k() const { return in_channels_per_group() * kernel_spatial(); }

    // Elements of the arrays the op reads and writes, in the op's own terms.
    int64_t x_elements() const { return batch * in_channels * in_spatial(); }
    int64_t y_elements() const { return batch * out_channels * out_spatial(); }
    int64_t weight_elements() const { return out_channels * gemm_k(); }
    int64_t src_elements() const { return kind == ConvKind::forward ? x_elements() : y_elements(); }
    int64_t dst_elements() const { return kind == ConvKind::forward ? y_elements() : x_elements(); }
    int64_t dst_channels() const { return kind == ConvKind::forward ? out_channels : in_channels; }

    // 2 * multiply-adds, the convention of the benchmark suite (no multiply by inserted zeros).
    double flops() const;

    // A short human-readable form, e.g. "conv2d f32 N=1 C=64 K=64 in=56x56 out=56x56 k=3x3 ...".
    std::string describe() const;
};

// Output size of a forward convolution along one dimension; throws if it would be < 1.
// floor((in + pad_before + pad_after - dilation*(kernel-1) - 1) / stride) + 1
int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad_before,
                         int64_t pad_after, int64_t dilation);

// Output size of a transposed convolution along one dimension; throws if it would be < 1.
// (in - 1)*stride - pad_before - pad_after + dilation*(kernel-1) + output_padding + 1
int64_t conv_transpose_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad_before,
                                   int64_t pad_after, int64_t output_padding, int64_t dilation);

// Per-dimension parameters as the user gives them (one entry per spatial dimension, left to right).
struct ConvParams {
    std::vector<int64_t> stride;
    std::vector<int64_t> dilation;
    std::vector<int64_t> pad_before;
    std::vector<int64_t> pad_after;
    std::vector<int64_t> output_padding;  // transposed only; empty means zeros
    int64_t groups = 1;
};

// Builds and validates a forward problem from x's shape (N, C, in...) and w's shape
// (K, C/groups, kernel...). Throws fastconv::InvalidArgument naming the offending argument.
ConvProblem make_conv_problem(DType dtype, const std::vector<int64_t>& x_shape,
                              const std::vector<int64_t>& w_shape, const ConvParams& params);

// Builds and validates a transposed problem from its input's shape (N, C_in, in...) and torch's
// weight shape (C_in, C_out/groups, kernel...). The result is the forward view described above.
ConvProblem make_conv_transpose_problem(DType dtype, const std::vector<int64_t>& input_shape,
                                        const std::vector<int64_t>& w_shape,
                                        const ConvParams& params);

// Geometry of unfold/fold (im2col/col2im) for a given spatial input size: a forward problem with
// N = batch, C = channels, K = 1 and groups = 1, so the index mapping and its validation are shared.
ConvProblem make_unfold_problem(DType dtype, int64_t batch, int64_t channels,
                                const std::vector<int64_t>& in_size,
                                const std::vector<int64_t>& kernel, const ConvParams& params);

}  // namespace fastconv
