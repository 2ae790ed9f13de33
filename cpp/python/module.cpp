// fastconv._core: the pybind11 binding. It takes arrays already normalised by fastconv/_api.py but
// trusts nothing: dtype, contiguity, shapes, aliasing and every parameter are checked again (the C++
// validation raises InvalidArgument -> ValueError, UnsupportedType -> TypeError, OutOfMemory ->
// MemoryError), so no call can crash the process. The GIL is released around every kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <tuple>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "gemm/gemm.hpp"
#include "convchw/convchw.hpp"
#include "dwconv/dwconv.hpp"
#include "igemm/igemm.hpp"
#include "registry.hpp"
#include "runtime/workspace.hpp"
#include "winograd/winograd.hpp"

namespace py = pybind11;
using namespace fastconv;

void register_cuda(py::module_& m);  // cuda_binding.cpp: DeviceArray, DLPack and the GPU ops

namespace {

std::vector<int64_t> shape_of(const py::array& array) {
    return std::vector<int64_t>(array.shape(), array.shape() + array.ndim());
}

DType dtype_of(const py::array& array, const char* op, const char* name) {
    if (array.dtype().is(py::dtype::of<float>())) return DType::f32;
    if (array.dtype().is(py::dtype::of<double>())) return DType::f64;
    throw UnsupportedType(std::string(op) + ": " + name + " has dtype " + std::string(py::str(array.dtype())) +
                          ", expected float32 or float64");
}

// A dtype given by name ("float32", "float64"), as algorithms() and the autotuner pass it.
DType dtype_named(const std::string& text) {
    if (text == "float32") return DType::f32;
    if (text == "float64") return DType::f64;
    throw UnsupportedType("dtype must be 'float32' or 'float64', got '" + text + "'");
}

void require_dtype(const py::array& array, DType dtype, const char* op, const char* name) {
    DType actual = dtype_of(array, op, name);
    if (actual != dtype)
        throw UnsupportedType(std::string(op) + ": " + name + " has dtype " + dtype_name(actual) +
                              " but the input is " + dtype_name(dtype) + "; all arrays must share one dtype");
}

void require_contiguous(const py::array& array, const char* op, const char* name) {
    if (!(array.flags() & py::array::c_style) || !(array.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
        throw InvalidArgument(std::string(op) + ": " + name + " must be a C-contiguous, aligned array");
}

bool overlaps(const py::array& a, const py::array& b) {
    if (a.nbytes() == 0 || b.nbytes() == 0) return false;
    const char* a0 = static_cast<const char*>(a.data());
    const char* b0 = static_cast<const char*>(b.data());
    return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

// A fresh C-contiguous array on a 64-byte boundary, as torch allocates its tensors: NumPy's own
// allocations start 16 or 32 bytes into a cache line, where every 512-bit store of a channels-last
// row straddles two lines and none can be a non-temporal store (the depthwise kernels stream large
// outputs only from aligned addresses). Its memory comes from, and returns to, the output cache
// (workspace.hpp), so calls in a loop do not fault in fresh pages.
py::array aligned_array(DType dtype, const std::vector<int64_t>& shape, int64_t bytes) {
    struct Release {
        void operator()(OutputBlock* block) const {
            release_output_block(*block);
            delete block;
        }
    };
    std::unique_ptr<OutputBlock, Release> block(new OutputBlock(acquire_output_block(static_cast<size_t>(bytes))));
    void* data = block->data;
    py::capsule owner(block.get(), [](void* owned) { Release()(static_cast<OutputBlock*>(owned)); });
    block.release();  // the capsule owns it now
    std::vector<py::ssize_t> extents(shape.begin(), shape.end());
    if (dtype == DType::f32) return py::array_t<float>(extents, static_cast<float*>(data), owner);
    return py::array_t<double>(extents, static_cast<double*>(data), owner);
}

// A fresh output array, its size checked first (see make_output).
py::array fresh_output(DType dtype, const std::vector<int64_t>& shape, const char* op) {
    int64_t bytes = dtype_size(dtype);
    for (int64_t extent : shape) bytes = checked_mul(bytes, extent, (std::string(op) + ": output size in bytes").c_str());
    check_allocation(bytes, std::string(op) + ": the output");
    return aligned_array(dtype, shape, bytes);
}

// The output array: a fresh one, or the caller's `out` after checking it fits exactly and does not
// alias an input (a kernel reading what it writes would give silently wrong answers).
py::array make_output(const py::object& out, DType dtype, const std::vector<int64_t>& shape, const char* op,
                      std::initializer_list<const py::array*> inputs) {
    if (out.is_none()) {
        // Checked before NumPy sees it: a size past int64 or the machine's memory fails here with
        // a message naming the output, not as an overflow, a bare MemoryError or a lazy
        // allocation that the kernel OOM-kills once touched.
        return fresh_output(dtype, shape, op);
    }
    if (!py::isinstance<py::array>(out)) throw UnsupportedType(std::string(op) + ": out must be a numpy array");
    py::array array = py::reinterpret_borrow<py::array>(out);
    require_dtype(array, dtype, op, "out");
    require_contiguous(array, op, "out");
    if (!array.writeable()) throw InvalidArgument(std::string(op) + ": out must be writeable");
    if (shape_of(array) != shape) throw InvalidArgument(std::string(op) + ": out has the wrong shape");
    for (const py::array* input : inputs)
        if (input && overlaps(array, *input)) throw InvalidArgument(std::string(op) + ": out must not overlap an input");
    return array;
}

ConvParams params_of(std::vector<int64_t> stride, std::vector<int64_t> dilation, std::vector<int64_t> pad_before,
                     std::vector<int64_t> pad_after, std::vector<int64_t> output_padding, int64_t groups) {
    ConvParams params;
    params.stride = std::move(stride);
    params.dilation = std::move(dilation);
    params.pad_before = std::move(pad_before);
    params.pad_after = std::move(pad_after);
    params.output_padding = std::move(output_padding);
    params.groups = groups;
    return params;
}

// (N, spatial..., C) <-> (N, C, spatial...): a channels-last array's memory order and its logical shape.
std::vector<int64_t> channels_to_front(std::vector<int64_t> shape) {
    if (shape.size() >= 2) std::rotate(shape.begin() + 1, shape.end() - 1, shape.end());
    return shape;
}
std::vector<int64_t> channels_to_back(std::vector<int64_t> shape) {
    if (shape.size() >= 2) std::rotate(shape.begin() + 1, shape.begin() + 2, shape.end());
    return shape;
}

// x (and the result) are given in memory order: (N, C, spatial...) or, with channels_last,
// (N, spatial..., C).
py::array conv_call(bool transposed, const py::array& x, const py::array& weight, const py::object& bias_obj,
                    const ConvParams& params, const std::string& algo_text, const py::object& out,
                    bool channels_last) {
    const char* op = transposed ? "conv_transpose" : "conv";
    const DType dtype = dtype_of(x, op, "input");
    require_dtype(weight, dtype, op, "weight");
    require_contiguous(x, op, "input");
    require_contiguous(weight, op, "weight");
    const Algo algo = parse_algo(algo_text);
    const std::vector<int64_t> x_shape = channels_last ? channels_to_front(shape_of(x)) : shape_of(x);
    ConvProblem problem = transposed ? make_conv_transpose_problem(dtype, x_shape, shape_of(weight), params)
                                     : make_conv_problem(dtype, x_shape, shape_of(weight), params);
    if (channels_last) problem.layout = Layout::channels_last;
    py::array bias;
    const void* bias_data = nullptr;
    if (!bias_obj.is_none()) {
        if (!py::isinstance<py::array>(bias_obj)) throw UnsupportedType(std::string(op) + ": bias must be a numpy array or None");
        bias = py::reinterpret_borrow<py::array>(bias_obj);
        require_dtype(bias, dtype, op, "bias");
        require_contiguous(bias, op, "bias");
        if (bias.ndim() != 1 || bias.shape(0) != problem.dst_channels())
            throw InvalidArgument(std::string(op) + ": bias must have shape (" + std::to_string(problem.dst_channels()) +
                                  ",) (one value per output channel), got ndim " + std::to_string(bias.ndim()) +
                                  (bias.ndim() == 1 ? " with " + std::to_string(bias.shape(0)) + " values" : ""));
        bias_data = bias.data();
    }
    std::vector<int64_t> out_shape{problem.batch, problem.dst_channels()};
    const Dims& spatial = transposed ? problem.in_size : problem.out_size;
    for (int d = kMaxSpatialDims - problem.ndim; d < kMaxSpatialDims; ++d) out_shape.push_back(spatial[d]);
    if (channels_last) out_shape = channels_to_back(out_shape);
    py::array result = make_output(out, dtype, out_shape, op, {&x, &weight, bias_data ? &bias : nullptr});
    void* dst = result.mutable_data();
    const void* src = x.data();
    const void* w = weight.data();
    {
        py::gil_scoped_release release;
        run_conv(problem, algo, src, w, bias_data, dst);
    }
    return result;
}

std::tuple<std::string, std::vector<std::tuple<std::string, std::string, bool, std::string>>> explain(
    bool transposed, const std::string& dtype_text, const std::vector<int64_t>& x_shape,
    const std::vector<int64_t>& w_shape, std::vector<int64_t> stride, std::vector<int64_t> dilation,
    std::vector<int64_t> pad_before, std::vector<int64_t> pad_after, std::vector<int64_t> output_padding,
    int64_t groups, const std::string& algo_text, bool channels_last) {
    const DType dtype = dtype_named(dtype_text);
    const ConvParams params = params_of(std::move(stride), std::move(dilation), std::move(pad_before),
                                        std::move(pad_after), std::move(output_padding), groups);
    ConvProblem problem = transposed ? make_conv_transpose_problem(dtype, x_shape, w_shape, params)
                                     : make_conv_problem(dtype, x_shape, w_shape, params);
    if (channels_last) problem.layout = Layout::channels_last;
    const Algo algo = parse_algo(algo_text);
    std::vector<std::tuple<std::string, std::string, bool, std::string>> rows;
    for (const ImplChoice& choice : explain_selection(problem, algo))
        rows.emplace_back(choice.name, choice.algo, choice.accepted, choice.reason);
    return {selected_impl(problem, algo), rows};
}

template <typename T>
void append_winograd_ukernels(py::list& rows, const char* dtype) {
    for (const auto& ukernel : winograd::ukernels<T>())
        rows.append(py::make_tuple(ukernel.name, dtype, isa_name(ukernel.isa), ukernel.m,
                                   &ukernel == &winograd::active_ukernel<T>(ukernel.m)));
}

template <typename T>
void append_ukernels(py::list& rows, const char* dtype) {
    for (const auto& ukernel : gemm::ukernels<T>())
        rows.append(py::make_tuple(ukernel.name, dtype, isa_name(ukernel.isa), ukernel.mr, ukernel.nr));
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "fastconv's compiled core; use the functions of the fastconv package instead.";
    m.attr("__version__") = version();
    m.attr("build_commit") = FASTCONV_BUILD_COMMIT;
    py::register_exception<UnsupportedType>(m, "UnsupportedTypeError", PyExc_TypeError);
    py::register_exception<OutOfMemory>(m, "OutOfMemoryError", PyExc_MemoryError);

    m.def(
        "conv",
        [](const py::array& x, const py::array& weight, const py::object& bias, std::vector<int64_t> stride,
           std::vector<int64_t> dilation, std::vector<int64_t> pad_before, std::vector<int64_t> pad_after,
           int64_t groups, const std::string& algo, const py::object& out, bool channels_last) {
            return conv_call(false, x, weight, bias,
                             params_of(std::move(stride), std::move(dilation), std::move(pad_before),
                                       std::move(pad_after), {}, groups),
                             algo, out, channels_last);
        },
        py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("dilation"), py::arg("pad_before"),
        py::arg("pad_after"), py::arg("groups"), py::arg("algo"), py::arg("out") = py::none(),
        py::arg("channels_last") = false);

    m.def(
        "conv_transpose",
        [](const py::array& x, const py::array& weight, const py::object& bias, std::vector<int64_t> stride,
           std::vector<int64_t> dilation, std::vector<int64_t> pad_before, std::vector<int64_t> pad_after,
           std::vector<int64_t> output_padding, int64_t groups, const std::string& algo, const py::object& out,
           bool channels_last) {
            return conv_call(true, x, weight, bias,
                             params_of(std::move(stride), std::move(dilation), std::move(pad_before),
                                       std::move(pad_after), std::move(output_padding), groups),
                             algo, out, channels_last);
        },
        py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("dilation"), py::arg("pad_before"),
        py::arg("pad_after"), py::arg("output_padding"), py::arg("groups"), py::arg("algo"),
        py::arg("out") = py::none(), py::arg("channels_last") = false);

    py::class_<ConvPlan>(m, "ConvPlan",
                         "A prepacked convolution for one input shape (see fastconv.Conv2d and friends).")
        .def(py::init([](bool transposed, const std::vector<int64_t>& x_shape, const py::array& weight,
                         std::vector<int64_t> stride, std::vector<int64_t> dilation, std::vector<int64_t> pad_before,
                         std::vector<int64_t> pad_after, std::vector<int64_t> output_padding, int64_t groups,
                         const std::string& algo_text, bool channels_last) {
                 const char* op = transposed ? "conv_transpose" : "conv";
                 const DType dtype = dtype_of(weight, op, "weight");
                 require_contiguous(weight, op, "weight");
                 const ConvParams params = params_of(std::move(stride), std::move(dilation), std::move(pad_before),
                                                     std::move(pad_after), std::move(output_padding), groups);
                 ConvProblem problem = transposed ? make_conv_transpose_problem(dtype, x_shape, shape_of(weight), params)
                                                  : make_conv_problem(dtype, x_shape, shape_of(weight), params);
                 if (channels_last) problem.layout = Layout::channels_last;
                 const Algo algo = parse_algo(algo_text);
                 const void* w = weight.data();
                 py::gil_scoped_release release;
                 return ConvPlan(problem, algo, w);
             }),
             py::arg("transposed"), py::arg("x_shape"), py::arg("weight"), py::arg("stride"), py::arg("dilation"),
             py::arg("pad_before"), py::arg("pad_after"), py::arg("output_padding"), py::arg("groups"),
             py::arg("algo"), py::arg("channels_last"))
        .def_property_readonly("impl", &ConvPlan::impl_name)
        .def(
            "run",
            [](const ConvPlan& plan, const py::array& x, const py::object& bias_obj, const py::object& out) {
                const ConvProblem& p = plan.problem();
                const char* op = p.kind == ConvKind::transposed ? "conv_transpose" : "conv";
                const bool last = p.layout == Layout::channels_last;
                require_dtype(x, p.dtype, op, "input");
                require_contiguous(x, op, "input");
                std::vector<int64_t> src_shape{p.batch, p.kind == ConvKind::forward ? p.in_channels : p.out_channels};
                const Dims& src_size = p.kind == ConvKind::forward ? p.in_size : p.out_size;
                const Dims& dst_size = p.kind == ConvKind::forward ? p.out_size : p.in_size;
                std::vector<int64_t> dst_shape{p.batch, p.dst_channels()};
                for (int d = kMaxSpatialDims - p.ndim; d < kMaxSpatialDims; ++d) {
                    src_shape.push_back(src_size[d]);
                    dst_shape.push_back(dst_size[d]);
                }
                if (last) {
                    src_shape = channels_to_back(src_shape);
                    dst_shape = channels_to_back(dst_shape);
                }
                if (shape_of(x) != src_shape)
                    throw InvalidArgument(std::string(op) + ": input does not have the shape this plan was made for");
                py::array bias;
                const void* bias_data = nullptr;
                if (!bias_obj.is_none()) {
                    if (!py::isinstance<py::array>(bias_obj))
                        throw UnsupportedType(std::string(op) + ": bias must be a numpy array or None");
                    bias = py::reinterpret_borrow<py::array>(bias_obj);
                    require_dtype(bias, p.dtype, op, "bias");
                    require_contiguous(bias, op, "bias");
                    if (bias.ndim() != 1 || bias.shape(0) != p.dst_channels())
                        throw InvalidArgument(std::string(op) + ": bias must have one value per output channel");
                    bias_data = bias.data();
                }
                py::array result = make_output(out, p.dtype, dst_shape, op, {&x, bias_data ? &bias : nullptr});
                void* dst = result.mutable_data();
                const void* src = x.data();
                {
                    py::gil_scoped_release release;
                    plan.run(src, bias_data, dst);
                }
                return result;
            },
            py::arg("x"), py::arg("bias"), py::arg("out") = py::none());

    m.def(
        "unfold",
        [](const py::array& x, std::vector<int64_t> kernel, std::vector<int64_t> dilation, std::vector<int64_t> pad_before,
           std::vector<int64_t> pad_after, std::vector<int64_t> stride, const py::object& out) {
            const DType dtype = dtype_of(x, "unfold", "input");
            require_contiguous(x, "unfold", "input");
            const int ndim = static_cast<int>(kernel.size());
            if (x.ndim() != ndim + 2)
                throw InvalidArgument("unfold: input must have " + std::to_string(ndim + 2) +
                                      " dimensions (N, C, spatial...) for a " + std::to_string(ndim) +
                                      "-d kernel_size, got " + std::to_string(x.ndim()));
            const std::vector<int64_t> shape = shape_of(x);
            const ConvProblem problem = make_unfold_problem(
                dtype, shape[0], shape[1], {shape.begin() + 2, shape.end()}, kernel,
                params_of(std::move(stride), std::move(dilation), std::move(pad_before), std::move(pad_after), {}, 1));
            const std::vector<int64_t> out_shape{problem.batch, problem.gemm_k(), problem.out_spatial()};
            py::array result = make_output(out, dtype, out_shape, "unfold", {&x});
            void* dst = result.mutable_data();
            const void* src = x.data();
            {
                py::gil_scoped_release release;
                unfold(problem, src, dst);
            }
            return result;
        },
        py::arg("x"), py::arg("kernel_size"), py::arg("dilation"), py::arg("pad_before"), py::arg("pad_after"),
        py::arg("stride"), py::arg("out") = py::none());

    m.def(
        "fold",
        [](const py::array& columns, std::vector<int64_t> output_size, std::vector<int64_t> kernel,
           std::vector<int64_t> dilation, std::vector<int64_t> pad_before, std::vector<int64_t> pad_after,
           std::vector<int64_t> stride, const py::object& out) {
            const DType dtype = dtype_of(columns, "fold", "input");
            require_contiguous(columns, "fold", "input");
            if (columns.ndim() != 3)
                throw InvalidArgument("fold: input must have 3 dimensions (N, C * prod(kernel_size), L), got " +
                                      std::to_string(columns.ndim()));
            const std::vector<int64_t> shape = shape_of(columns);
            int64_t taps = 1;
            for (int64_t k : kernel) {
                if (k < 1) throw InvalidArgument("fold: kernel_size must be positive");
                taps = checked_mul(taps, k, "kernel size");
            }
            if (shape[1] % taps != 0)
                throw InvalidArgument("fold: input.shape[1] (" + std::to_string(shape[1]) +
                                      ") must be divisible by the product of kernel_size (" + std::to_string(taps) + ")");
            const ConvProblem problem = make_unfold_problem(
                dtype, shape[0], shape[1] / taps, output_size, kernel,
                params_of(std::move(stride), std::move(dilation), std::move(pad_before), std::move(pad_after), {}, 1));
            if (shape[2] != problem.out_spatial())
                throw InvalidArgument("fold: input.shape[2] (" + std::to_string(shape[2]) +
                                      ") must equal the number of sliding blocks for output_size, kernel_size, "
                                      "dilation, padding and stride, which is " +
                                      std::to_string(problem.out_spatial()));
            std::vector<int64_t> out_shape{problem.batch, problem.in_channels};
            out_shape.insert(out_shape.end(), output_size.begin(), output_size.end());
            py::array result = make_output(out, dtype, out_shape, "fold", {&columns});
            void* dst = result.mutable_data();
            const void* src = columns.data();
            {
                py::gil_scoped_release release;
                fold(problem, src, dst);
            }
            return result;
        },
        py::arg("columns"), py::arg("output_size"), py::arg("kernel_size"), py::arg("dilation"), py::arg("pad_before"),
        py::arg("pad_after"), py::arg("stride"), py::arg("out") = py::none());

    m.def("conv_output_size", &conv_output_size, py::arg("input_size"), py::arg("kernel_size"), py::arg("stride"),
          py::arg("pad_before"), py::arg("pad_after"), py::arg("dilation"));
    m.def("conv_transpose_output_size", &conv_transpose_output_size, py::arg("input_size"), py::arg("kernel_size"),
          py::arg("stride"), py::arg("pad_before"), py::arg("pad_after"), py::arg("output_padding"),
          py::arg("dilation"));
    m.def("explain_selection", &explain, py::arg("transposed"), py::arg("dtype"), py::arg("x_shape"),
          py::arg("weight_shape"), py::arg("stride"), py::arg("dilation"), py::arg("pad_before"), py::arg("pad_after"),
          py::arg("output_padding"), py::arg("groups"), py::arg("algo"), py::arg("channels_last") = false);
    m.def("algo_names", &algo_names);
    m.def(
        "winograd_accurate_for_auto",
        [](const std::string& dtype, int64_t depth_taps, int64_t in_channels_per_group) {
            return winograd_accurate_for_auto(dtype_named(dtype), depth_taps, in_channels_per_group);
        },
        py::arg("dtype"), py::arg("depth_taps"), py::arg("in_channels_per_group"));
    m.def("memory_limit_bytes", &memory_limit_bytes);
    m.def("detected_isa", [] { return std::string(isa_name(detected_isa())); });
    m.def("active_isa", [] { return std::string(isa_name(active_isa())); });
    m.def("compiled_isas", [] {
        std::vector<std::string> names;
        for (Isa isa : compiled_isas()) names.emplace_back(isa_name(isa));
        return names;
    });
    m.def("isa_override_warning", &isa_override_warning);
    m.def("gemm_ukernels", [] {
        py::list rows;
        append_ukernels<float>(rows, "float32");
        append_ukernels<double>(rows, "float64");
        return rows;
    });
    m.def("igemm_ukernels", [] {
        py::list rows;
        for (const auto& ukernel : igemm::ukernels())
            rows.append(py::make_tuple(ukernel.name, isa_name(ukernel.isa), ukernel.mr, ukernel.nr,
                                       &ukernel == &igemm::active_ukernel()));
        return rows;
    });
    m.def("dwconv_ukernels", [] {
        py::list rows;
        for (const auto& ukernel : dwconv::ukernels())
            rows.append(py::make_tuple(ukernel.name, isa_name(ukernel.isa), &ukernel == &dwconv::active_ukernel()));
        return rows;
    });
    m.def("conv_chw_ukernels", [] {
        py::list rows;
        for (const auto& ukernel : convchw::ukernels())
            rows.append(py::make_tuple(ukernel.name, isa_name(ukernel.isa), ukernel.kb, ukernel.pixels,
                                       ukernel.isa <= active_isa()));
        return rows;
    });
    m.def("winograd_ukernels", [] {
        py::list rows;
        append_winograd_ukernels<float>(rows, "float32");
        append_winograd_ukernels<double>(rows, "float64");
        return rows;
    });
    m.def("implementations", [] {
        py::list rows;
        for (const ConvImpl& impl : conv_registry())
            rows.append(py::make_tuple(impl.name, algo_name(impl.algo), impl.pack != nullptr));
        return rows;
    });
    m.def("active_gemm_ukernels", [] {
        return std::vector<std::string>{gemm::active_ukernel<float>().name, gemm::active_ukernel<double>().name};
    });
    m.def(
        "set_num_threads",
        [](int num_threads) {
            py::gil_scoped_release release;
            set_num_threads(num_threads);
        },
        py::arg("num_threads"));
    m.def("get_num_threads", &get_num_threads);
    m.def("output_cache_usage", [] {
        const auto usage = output_cache_usage();
        return py::make_tuple(usage.first, usage.second);
    });
    m.def("clear_output_cache", &clear_output_cache);
    // An uninitialised output array from the output cache, as the ops allocate theirs (the tests'
    // NaN-poisoned outputs come from here, so the cache's reuse is under every test).
    m.def("empty_output", [](const std::vector<int64_t>& shape, const std::string& dtype_text) {
        return fresh_output(dtype_named(dtype_text), shape, "empty_output");
    });
    m.def(
        "fma_peak_gflops",
        [](const std::string& isa_text, double seconds, int threads) {
            Isa isa = active_isa();
            if (!isa_text.empty()) {
                bool found = false;
                for (Isa candidate : compiled_isas())
                    if (isa_text == isa_name(candidate)) isa = candidate, found = true;
                if (!found) throw InvalidArgument("fma_peak_gflops: unknown or uncompiled isa '" + isa_text + "'");
            }
            py::gil_scoped_release release;
            return measure_fma_peak(isa, seconds, threads);
        },
        py::arg("isa") = "", py::arg("seconds") = 0.2, py::arg("threads") = 1);
    m.def("cuda_compiled", &cuda_compiled);
    m.def("cuda_device_count", &cuda_device_count);
    register_cuda(m);
}
