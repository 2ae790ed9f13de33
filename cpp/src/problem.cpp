// Building and validating ConvProblem: every size is 64-bit and overflow-checked here, once, so the
// kernels can index with plain int64 arithmetic. Error messages name the argument as the Python API
// spells it (stride, padding, dilation, groups, output_padding, weight, input).
#include <limits>
#include <string>

#include "fastconv/errors.hpp"
#include "fastconv/problem.hpp"

namespace fastconv {
namespace {

// Messages are built with std::string alone: no iostreams, whose static state a GCC 13 build of this
// module found uninitialised in one process (ostringstream crashed there; std::string did not).
std::string join(const std::vector<int64_t>& values) {
    std::string out = "(";
    for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
    return out + (values.size() == 1 ? ",)" : ")");
}

std::string join_dims(const Dims& dims, int ndim, const char* sep = "x") {
    std::string out;
    for (int d = kMaxSpatialDims - ndim; d < kMaxSpatialDims; ++d)
        out += (d > kMaxSpatialDims - ndim ? sep : "") + std::to_string(dims[d]);
    return out;
}

[[noreturn]] void fail(const std::string& message) { throw InvalidArgument(message); }

void check_rank(const char* op, const char* name, const std::vector<int64_t>& shape, int ndim) {
    if (static_cast<int>(shape.size()) != ndim + 2)
        fail(std::string(op) + ": " + name + " must have " + std::to_string(ndim + 2) +
             " dimensions, got shape " + join(shape));
    for (int64_t extent : shape)
        if (extent < 0) fail(std::string(op) + ": " + name + " has a negative extent in shape " + join(shape));
}

// Copies one per-dimension parameter into right-aligned slots after checking its length and range.
Dims spatial(const char* op, const char* name, const std::vector<int64_t>& values, int ndim,
             int64_t fill, int64_t minimum) {
    if (static_cast<int>(values.size()) != ndim)
        fail(std::string(op) + ": " + name + " needs " + std::to_string(ndim) + " values, got " +
             join(values));
    Dims dims{fill, fill, fill};
    for (int d = 0; d < ndim; ++d) {
        if (values[d] < minimum)
            fail(std::string(op) + ": " + name + " must be " + (minimum == 0 ? "non-negative" : "positive") +
                 ", got " + join(values));
        dims[kMaxSpatialDims - ndim + d] = values[d];
    }
    return dims;
}

int spatial_rank(const char* op, size_t shape_size) {
    const int ndim = static_cast<int>(shape_size) - 2;
    if (ndim < 1 || ndim > kMaxSpatialDims)
        fail(std::string(op) + ": input must have 3, 4 or 5 dimensions (N, C, spatial...), got " +
             std::to_string(shape_size));
    return ndim;
}

// Products of the sizes the kernels index with, checked once so no kernel can overflow.
void check_element_counts(const ConvProblem& p, const char* op) {
    int64_t in_spatial = 1, out_spatial = 1, kernel_spatial = 1;
    for (int d = 0; d < kMaxSpatialDims; ++d) {
        in_spatial = checked_mul(in_spatial, p.in_size[d], "input spatial size");
        out_spatial = checked_mul(out_spatial, p.out_size[d], "output spatial size");
        kernel_spatial = checked_mul(kernel_spatial, p.kernel[d], "kernel size");
    }
    (void)op;
    const int64_t x = checked_mul(checked_mul(p.batch, p.in_channels, "input size"), in_spatial, "input size");
    const int64_t y = checked_mul(checked_mul(p.batch, p.out_channels, "output size"), out_spatial, "output size");
    const int64_t w = checked_mul(checked_mul(p.out_channels, p.in_channels_per_group(), "weight size"),
                                  kernel_spatial, "weight size");
    // The im2col matrix of one group and one image must be addressable too (K x P).
    const int64_t columns = checked_mul(checked_mul(p.in_channels_per_group(), kernel_spatial, "column matrix size"),
                                        out_spatial, "column matrix size");
    // Byte counts must fit as well: callers allocate elements * sizeof(T).
    for (int64_t count : {x, y, w, columns}) checked_mul(count, dtype_size(p.dtype), "array size in bytes");
}

}  // namespace

int64_t checked_mul(int64_t a, int64_t b, const char* what) {
    int64_t result;
    if (__builtin_mul_overflow(a, b, &result))
        throw InvalidArgument(std::string(what) + " overflows a 64-bit integer (" + std::to_string(a) +
                              " * " + std::to_string(b) + ")");
    return result;
}

int64_t checked_add(int64_t a, int64_t b, const char* what) {
    int64_t result;
    if (__builtin_add_overflow(a, b, &result))
        throw InvalidArgument(std::string(what) + " overflows a 64-bit integer (" + std::to_string(a) +
                              " + " + std::to_string(b) + ")");
    return result;
}

const char* dtype_name(DType dtype) {
    switch (dtype) {
        case DType::f32: return "float32";
        case DType::f64: return "float64";
        case DType::f16: return "float16";
        case DType::bf16: return "bfloat16";
    }
    return "unknown";
}
int64_t dtype_size(DType dtype) {
    switch (dtype) {
        case DType::f32: return 4;
        case DType::f64: return 8;
        case DType::f16:
        case DType::bf16: return 2;
    }
    return 0;
}
const char* layout_name(Layout layout) {
    return layout == Layout::channels_first ? "channels_first" : "channels_last";
}

double ConvProblem::flops() const {
    return 2.0 * static_cast<double>(batch) * static_cast<double>(out_channels) *
           static_cast<double>(in_channels_per_group()) * static_cast<double>(kernel_spatial()) *
           static_cast<double>(out_spatial());
}

std::string ConvProblem::describe() const {
    std::string out = std::string(kind == ConvKind::forward ? "conv" : "conv_transpose") + std::to_string(ndim) + "d " +
                      dtype_name(dtype) + " N=" + std::to_string(batch) + " C=" + std::to_string(in_channels) +
                      " K=" + std::to_string(out_channels) + " groups=" + std::to_string(groups) +
                      " in=" + join_dims(in_size, ndim) + " out=" + join_dims(out_size, ndim) +
                      " kernel=" + join_dims(kernel, ndim) + " stride=" + join_dims(stride, ndim) +
                      " dilation=" + join_dims(dilation, ndim) + " pad=" + join_dims(pad_before, ndim, ",") + "/" +
                      join_dims(pad_after, ndim, ",");
    if (layout == Layout::channels_last) out += " channels_last";
    return out;
}

int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad_before,
                         int64_t pad_after, int64_t dilation) {
    if (in < 0) fail("input size must be non-negative, got " + std::to_string(in));
    if (kernel < 1) fail("kernel_size must be positive, got " + std::to_string(kernel));
    if (stride < 1) fail("stride must be positive, got " + std::to_string(stride));
    if (dilation < 1) fail("dilation must be positive, got " + std::to_string(dilation));
    const int64_t padded = checked_add(checked_add(in, pad_before, "padded input size"), pad_after, "padded input size");
    const int64_t extent = checked_add(checked_mul(dilation, kernel - 1, "dilated kernel size"), 1, "dilated kernel size");
    if (padded < extent)
        fail("kernel too large: the dilated kernel spans " + std::to_string(extent) +
             " elements but the padded input has only " + std::to_string(padded) +
             " (input " + std::to_string(in) + " + padding " + std::to_string(pad_before) + "+" +
             std::to_string(pad_after) + "), which would give an empty output");
    return (padded - extent) / stride + 1;
}

int64_t conv_transpose_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad_before,
                                   int64_t pad_after, int64_t output_padding, int64_t dilation) {
    if (in < 1) fail("input size must be positive, got " + std::to_string(in));
    if (kernel < 1) fail("kernel_size must be positive, got " + std::to_string(kernel));
    if (stride < 1) fail("stride must be positive, got " + std::to_string(stride));
    if (dilation < 1) fail("dilation must be positive, got " + std::to_string(dilation));
    if (pad_before < 0 || pad_after < 0) fail("padding must be non-negative");
    if (output_padding < 0 || (output_padding >= stride && output_padding >= dilation))
        fail("output_padding must be smaller than either stride or dilation, got output_padding=" +
             std::to_string(output_padding) + " with stride=" + std::to_string(stride) +
             " and dilation=" + std::to_string(dilation));
    int64_t size = checked_mul(in - 1, stride, "output size");
    size = checked_add(size, checked_mul(dilation, kernel - 1, "dilated kernel size"), "output size");
    size = checked_add(size, output_padding + 1, "output size");
    // size >= 1 and both paddings >= 0, so neither subtraction can overflow (a padding near 2^63
    // once wrapped around to a small positive size); the reported size saturates at INT64_MIN.
    size = size - pad_before;
    size = size < std::numeric_limits<int64_t>::min() + pad_after ? std::numeric_limits<int64_t>::min()
                                                                   : size - pad_after;
    if (size < 1)
        fail("padding too large: the transposed convolution's output size would be " + std::to_string(size) +
             " (input " + std::to_string(in) + ", kernel " + std::to_string(kernel) + ", stride " +
             std::to_string(stride) + ", padding " + std::to_string(pad_before) + "+" +
             std::to_string(pad_after) + ", dilation " + std::to_string(dilation) + ")");
    return size;
}

ConvProblem make_conv_problem(DType dtype, const std::vector<int64_t>& x_shape,
                              const std::vector<int64_t>& w_shape, const ConvParams& params) {
    static const char* op = "conv";
    const int ndim = spatial_rank(op, x_shape.size());
    check_rank(op, "input", x_shape, ndim);
    check_rank(op, "weight", w_shape, ndim);

    ConvProblem p;
    p.kind = ConvKind::forward;
    p.dtype = dtype;
    p.ndim = ndim;
    p.batch = x_shape[0];
    p.in_channels = x_shape[1];
    p.out_channels = w_shape[0];
    p.groups = params.groups;
    if (p.groups < 1) fail(std::string(op) + ": groups must be positive, got " + std::to_string(p.groups));
    if (p.in_channels % p.groups != 0)
        fail(std::string(op) + ": input channels (" + std::to_string(p.in_channels) +
             ") must be divisible by groups (" + std::to_string(p.groups) + ")");
    if (p.out_channels % p.groups != 0)
        fail(std::string(op) + ": weight.shape[0] (output channels, " + std::to_string(p.out_channels) +
             ") must be divisible by groups (" + std::to_string(p.groups) + ")");
    if (w_shape[1] != p.in_channels / p.groups)
        fail(std::string(op) + ": weight.shape[1] must equal input channels / groups = " +
             std::to_string(p.in_channels) + " / " + std::to_string(p.groups) + " = " +
             std::to_string(p.in_channels / p.groups) + ", got weight of shape " + join(w_shape));

    p.in_size = spatial(op, "input spatial size", {x_shape.begin() + 2, x_shape.end()}, ndim, 1, 0);
    p.kernel = spatial(op, "kernel size (weight.shape[2:])", {w_shape.begin() + 2, w_shape.end()}, ndim, 1, 1);
    p.stride = spatial(op, "stride", params.stride, ndim, 1, 1);
    p.dilation = spatial(op, "dilation", params.dilation, ndim, 1, 1);
    p.pad_before = spatial(op, "padding", params.pad_before, ndim, 0, 0);
    p.pad_after = spatial(op, "padding", params.pad_after, ndim, 0, 0);
    if (!params.output_padding.empty())
        fail(std::string(op) + ": output_padding applies only to transposed convolutions");
    for (int d = kMaxSpatialDims - ndim; d < kMaxSpatialDims; ++d) {
        try {
            p.out_size[d] = conv_output_size(p.in_size[d], p.kernel[d], p.stride[d], p.pad_before[d],
                                             p.pad_after[d], p.dilation[d]);
        } catch (const InvalidArgument& e) {
            fail(std::string(op) + ": spatial dimension " + std::to_string(d - (kMaxSpatialDims - ndim)) + ": " + e.what());
        }
    }
    check_element_counts(p, op);
    return p;
}

ConvProblem make_conv_transpose_problem(DType dtype, const std::vector<int64_t>& input_shape,
                                        const std::vector<int64_t>& w_shape,
                                        const ConvParams& params) {
    static const char* op = "conv_transpose";
    const int ndim = spatial_rank(op, input_shape.size());
    check_rank(op, "input", input_shape, ndim);
    check_rank(op, "weight", w_shape, ndim);

    ConvProblem p;
    p.kind = ConvKind::transposed;
    p.dtype = dtype;
    p.ndim = ndim;
    p.batch = input_shape[0];
    p.groups = params.groups;
    // Forward view: the transposed op's input channels are the forward output channels K.
    p.out_channels = input_shape[1];
    if (p.groups < 1) fail(std::string(op) + ": groups must be positive, got " + std::to_string(p.groups));
    if (w_shape[0] != p.out_channels)
        fail(std::string(op) + ": weight.shape[0] must equal the input channels (" +
             std::to_string(p.out_channels) + "), got weight of shape " + join(w_shape));
    if (p.out_channels % p.groups != 0)
        fail(std::string(op) + ": input channels (" + std::to_string(p.out_channels) +
             ") must be divisible by groups (" + std::to_string(p.groups) + ")");
    p.in_channels = checked_mul(w_shape[1], p.groups, "output channels");

    const std::vector<int64_t> output_padding =
        params.output_padding.empty() ? std::vector<int64_t>(ndim, 0) : params.output_padding;
    p.out_size = spatial(op, "input spatial size", {input_shape.begin() + 2, input_shape.end()}, ndim, 1, 0);
    p.kernel = spatial(op, "kernel size (weight.shape[2:])", {w_shape.begin() + 2, w_shape.end()}, ndim, 1, 1);
    p.stride = spatial(op, "stride", params.stride, ndim, 1, 1);
    p.dilation = spatial(op, "dilation", params.dilation, ndim, 1, 1);
    p.pad_before = spatial(op, "padding", params.pad_before, ndim, 0, 0);
    const Dims pad_after = spatial(op, "padding", params.pad_after, ndim, 0, 0);
    const Dims extra = spatial(op, "output_padding", output_padding, ndim, 0, 0);
    for (int d = kMaxSpatialDims - ndim; d < kMaxSpatialDims; ++d) {
        const int axis = d - (kMaxSpatialDims - ndim);
        if (p.out_size[d] == 0)
            fail(std::string(op) + ": input spatial size must be positive, got " + join({input_shape.begin() + 2, input_shape.end()}));
        try {
            p.in_size[d] = conv_transpose_output_size(p.out_size[d], p.kernel[d], p.stride[d], p.pad_before[d],
                                                      pad_after[d], extra[d], p.dilation[d]);
        } catch (const InvalidArgument& e) {
            fail(std::string(op) + ": spatial dimension " + std::to_string(axis) + ": " + e.what());
        }
        // See problem.hpp: with this the forward output size of the view equals the input size.
        p.pad_after[d] = pad_after[d] - extra[d];
    }
    check_element_counts(p, op);
    return p;
}

ConvProblem make_unfold_problem(DType dtype, int64_t batch, int64_t channels,
                                const std::vector<int64_t>& in_size,
                                const std::vector<int64_t>& kernel, const ConvParams& params) {
    static const char* op = "unfold";
    const int ndim = static_cast<int>(in_size.size());
    if (ndim < 1 || ndim > kMaxSpatialDims)
        fail(std::string(op) + ": 1 to 3 spatial dimensions are supported, got " + std::to_string(ndim));
    if (batch < 0 || channels < 0) fail(std::string(op) + ": batch and channel counts must be non-negative");
    if (params.groups != 1) fail(std::string(op) + ": groups must be 1");
    ConvProblem p;
    p.kind = ConvKind::forward;
    p.dtype = dtype;
    p.ndim = ndim;
    p.batch = batch;
    p.in_channels = channels;
    p.out_channels = 1;
    p.in_size = spatial(op, "input spatial size", in_size, ndim, 1, 0);
    p.kernel = spatial(op, "kernel_size", kernel, ndim, 1, 1);
    p.stride = spatial(op, "stride", params.stride, ndim, 1, 1);
    p.dilation = spatial(op, "dilation", params.dilation, ndim, 1, 1);
    p.pad_before = spatial(op, "padding", params.pad_before, ndim, 0, 0);
    p.pad_after = spatial(op, "padding", params.pad_after, ndim, 0, 0);
    for (int d = kMaxSpatialDims - ndim; d < kMaxSpatialDims; ++d) {
        try {
            p.out_size[d] = conv_output_size(p.in_size[d], p.kernel[d], p.stride[d], p.pad_before[d],
                                             p.pad_after[d], p.dilation[d]);
        } catch (const InvalidArgument& e) {
            fail(std::string(op) + ": spatial dimension " + std::to_string(d - (kMaxSpatialDims - ndim)) + ": " + e.what());
        }
    }
    check_element_counts(p, op);
    return p;
}

}  // namespace fastconv
