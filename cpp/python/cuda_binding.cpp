// The GPU half of fastconv._core: DeviceArray (device memory with __dlpack__, __dlpack_device__ and
// __cuda_array_interface__), DLPack import, and the GPU ops. fastconv/cuda.py and fastconv/_api.py
// call these with arguments already normalised; shapes and parameters are validated again here by
// the same make_*_problem functions as the CPU path.
//
// Memory and streams: an imported DLPack tensor is borrowed (its deleter runs when the last
// DeviceArray viewing it dies); a non-contiguous one is first copied to dense memory on the call's
// stream. Results are allocated with cudaMallocAsync on the stream the op ran on and freed with
// cudaFreeAsync on it. Every call is asynchronous on that stream; exporting to a consumer on
// another stream makes the consumer wait on an event, as the DLPack protocol asks.
#include <Python.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <string>
#include <vector>

#include "dlpack_abi.hpp"
#include "fastconv/cuda.hpp"
#include "fastconv/fastconv.hpp"

namespace py = pybind11;
using namespace fastconv;
namespace dl = fastconv::dlpack;

namespace {

constexpr const char* kCapsule = "dltensor";
constexpr const char* kCapsuleVersioned = "dltensor_versioned";

// Device memory: owned (allocated here, freed in stream order) or borrowed from a DLPack producer.
struct DeviceBuffer {
    void* owned = nullptr;
    int device = 0;
    cuda::Stream stream = cuda::kLegacyStream;
    dl::ManagedTensor* borrowed = nullptr;
    dl::ManagedTensorVersioned* borrowed_versioned = nullptr;

    DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() {
        if (owned) cuda::release(owned, device, stream);
        if (borrowed && borrowed->deleter) borrowed->deleter(borrowed);
        if (borrowed_versioned && borrowed_versioned->deleter) borrowed_versioned->deleter(borrowed_versioned);
    }
};

cuda::Stream normalise_stream(cuda::Stream stream) { return stream == 0 ? cuda::kLegacyStream : stream; }

class DeviceArray {
   public:
    DeviceArray(std::shared_ptr<DeviceBuffer> buffer, void* data, std::vector<int64_t> shape, DType dtype)
        : buffer_(std::move(buffer)), data_(data), shape_(std::move(shape)), dtype_(dtype) {}

    // A fresh dense array on `device`, allocated on `stream`.
    static DeviceArray empty(std::vector<int64_t> shape, DType dtype, int device, cuda::Stream stream,
                             bool poisoned = false) {
        auto buffer = std::make_shared<DeviceBuffer>();
        buffer->device = device;
        buffer->stream = normalise_stream(stream);
        int64_t count = 1;
        for (int64_t extent : shape) count = checked_mul(count, extent, "array size");
        const int64_t bytes = checked_mul(count, dtype_size(dtype), "array bytes");
        {
            py::gil_scoped_release release;
            buffer->owned = cuda::allocate(static_cast<std::size_t>(bytes), device, buffer->stream);
            if (poisoned) cuda::poison(buffer->owned, static_cast<std::size_t>(bytes), device, buffer->stream);
        }
        void* data = buffer->owned;
        return DeviceArray(std::move(buffer), data, std::move(shape), dtype);
    }

    const std::vector<int64_t>& shape() const { return shape_; }
    DType dtype() const { return dtype_; }
    int device() const { return buffer_->device; }
    cuda::Stream stream() const { return buffer_->stream; }
    void* data() const { return data_; }
    int64_t size() const {
        int64_t count = 1;
        for (int64_t extent : shape_) count *= extent;
        return count;
    }
    int64_t nbytes() const { return size() * dtype_size(dtype_); }
    const std::shared_ptr<DeviceBuffer>& buffer() const { return buffer_; }

    DeviceArray reshape(std::vector<int64_t> shape) const {
        int64_t count = 1;
        for (int64_t extent : shape) {
            if (extent < 0) throw InvalidArgument("reshape: extents must be non-negative");
            count = checked_mul(count, extent, "array size");
        }
        if (count != size())
            throw InvalidArgument("reshape: cannot reshape " + std::to_string(size()) + " elements into " +
                                  std::to_string(count));
        return DeviceArray(buffer_, data_, std::move(shape), dtype_);
    }

    // After work on `stream` read this array, later frees on the array's own stream must wait for it.
    void order_after(cuda::Stream stream) const {
        if (buffer_->owned && buffer_->stream != stream) cuda::stream_wait(buffer_->stream, stream, device());
    }

   private:
    std::shared_ptr<DeviceBuffer> buffer_;
    void* data_;
    std::vector<int64_t> shape_;
    DType dtype_;
};

// ---- export -------------------------------------------------------------------------------------

// What an exported DLPack tensor keeps alive: the buffer and the shape array it points at.
struct ExportContext {
    std::shared_ptr<DeviceBuffer> buffer;
    std::vector<int64_t> shape;
};

template <typename Managed>
void delete_exported(Managed* managed) {
    delete static_cast<ExportContext*>(managed->manager_ctx);
    delete managed;
}

template <typename Managed>
void capsule_destructor(PyObject* capsule) {
    // A consumer renames a capsule it takes ("used_..."); only an unconsumed one is still ours to free.
    const char* name = std::is_same_v<Managed, dl::ManagedTensor> ? kCapsule : kCapsuleVersioned;
    if (!PyCapsule_IsValid(capsule, name)) return;
    auto* managed = static_cast<Managed*>(PyCapsule_GetPointer(capsule, name));
    if (managed && managed->deleter) managed->deleter(managed);
}

dl::Tensor describe(const DeviceArray& array, ExportContext* context) {
    dl::Tensor tensor{};
    tensor.data = array.data();
    tensor.device = {dl::kCUDA, array.device()};
    tensor.ndim = static_cast<int32_t>(context->shape.size());
    tensor.dtype = {array.dtype() == DType::bf16 ? dl::kBfloat : dl::kFloat,
                    static_cast<uint8_t>(dtype_size(array.dtype()) * 8), 1};
    tensor.shape = context->shape.data();
    tensor.strides = nullptr;  // dense row-major
    tensor.byte_offset = 0;
    return tensor;
}

py::object to_dlpack(const DeviceArray& array, const py::object& stream, const py::object& max_version,
                     const py::object& dl_device, const py::object& copy) {
    if (!dl_device.is_none()) {
        auto wanted = dl_device.cast<std::pair<int, int>>();
        if (wanted.first != dl::kCUDA || wanted.second != array.device())
            throw py::buffer_error("__dlpack__: this array lives on CUDA device " + std::to_string(array.device()) +
                                   " and can only be exported there");
    }
    if (!copy.is_none() && copy.cast<bool>())
        throw py::buffer_error("__dlpack__: copy=True is not supported; export without a copy and copy in the consumer");
    // Make the consumer's stream wait for the work that produced this array (-1: the consumer syncs itself).
    if (!stream.is_none()) {
        const int64_t consumer = stream.cast<int64_t>();
        if (consumer == 0) throw py::value_error("__dlpack__: stream 0 is ambiguous for CUDA; pass 1 for the legacy default");
        if (consumer != -1) cuda::stream_wait(static_cast<cuda::Stream>(consumer), array.stream(), array.device());
    } else {
        cuda::stream_wait(cuda::kLegacyStream, array.stream(), array.device());
    }
    auto* context = new ExportContext{array.buffer(), array.shape()};
    bool versioned = false;
    if (!max_version.is_none()) versioned = max_version.cast<std::pair<int, int>>().first >= 1;
    if (versioned) {
        auto* managed = new dl::ManagedTensorVersioned{};
        managed->version = {1, 0};
        managed->manager_ctx = context;
        managed->deleter = delete_exported<dl::ManagedTensorVersioned>;
        managed->flags = 0;
        managed->dl_tensor = describe(array, context);
        PyObject* capsule = PyCapsule_New(managed, kCapsuleVersioned, capsule_destructor<dl::ManagedTensorVersioned>);
        if (!capsule) {
            delete_exported(managed);
            throw py::error_already_set();
        }
        return py::reinterpret_steal<py::object>(capsule);
    }
    auto* managed = new dl::ManagedTensor{};
    managed->manager_ctx = context;
    managed->deleter = delete_exported<dl::ManagedTensor>;
    managed->dl_tensor = describe(array, context);
    PyObject* capsule = PyCapsule_New(managed, kCapsule, capsule_destructor<dl::ManagedTensor>);
    if (!capsule) {
        delete_exported(managed);
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::object>(capsule);
}

py::dict cuda_array_interface(const DeviceArray& array) {
    py::dict interface;
    py::list shape;
    for (int64_t extent : array.shape()) shape.append(extent);
    interface["shape"] = py::tuple(shape);
    if (array.dtype() == DType::bf16)
        throw py::attribute_error("bfloat16 has no __cuda_array_interface__ type string; use __dlpack__");
    interface["typestr"] = array.dtype() == DType::f32 ? "<f4" : array.dtype() == DType::f64 ? "<f8" : "<f2";
    interface["data"] = py::make_tuple(reinterpret_cast<std::uintptr_t>(array.data()), false);
    interface["version"] = 3;
    interface["strides"] = py::none();
    interface["stream"] = static_cast<std::uintptr_t>(array.stream());
    return interface;
}

// ---- import -------------------------------------------------------------------------------------

DType dtype_of(const dl::DataType& type, const std::string& name) {
    if (type.code == dl::kFloat && type.lanes == 1 && type.bits == 32) return DType::f32;
    if (type.code == dl::kFloat && type.lanes == 1 && type.bits == 64) return DType::f64;
    if (type.code == dl::kFloat && type.lanes == 1 && type.bits == 16) return DType::f16;
    if (type.code == dl::kBfloat && type.lanes == 1 && type.bits == 16) return DType::bf16;
    std::string text = type.code == dl::kFloat ? "float" : type.code == dl::kBfloat ? "bfloat"
                       : type.code == dl::kInt ? "int" : type.code == dl::kUInt ? "uint" : "code " + std::to_string(type.code);
    text += std::to_string(type.bits);
    if (type.lanes != 1) text += "x" + std::to_string(type.lanes);
    throw UnsupportedType(name + " has dtype " + text + ", expected float32, float64, float16 or bfloat16");
}

DeviceArray from_dlpack(const py::object& capsule_object, cuda::Stream stream, const std::string& name) {
    PyObject* capsule = capsule_object.ptr();
    dl::Tensor* tensor = nullptr;
    auto buffer = std::make_shared<DeviceBuffer>();
    if (PyCapsule_IsValid(capsule, kCapsule)) {
        auto* managed = static_cast<dl::ManagedTensor*>(PyCapsule_GetPointer(capsule, kCapsule));
        tensor = &managed->dl_tensor;
        buffer->borrowed = managed;
        PyCapsule_SetName(capsule, "used_dltensor");
    } else if (PyCapsule_IsValid(capsule, kCapsuleVersioned)) {
        auto* managed = static_cast<dl::ManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, kCapsuleVersioned));
        if (managed->version.major > 1) {
            throw py::buffer_error(name + ": DLPack " + std::to_string(managed->version.major) +
                                   ".x tensors are not supported (1.x is)");
        }
        tensor = &managed->dl_tensor;
        buffer->borrowed_versioned = managed;
        PyCapsule_SetName(capsule, "used_dltensor_versioned");
    } else {
        throw py::type_error(name + ": expected a DLPack capsule from __dlpack__()");
    }
    buffer->device = tensor->device.device_id;
    buffer->stream = normalise_stream(stream);
    if (tensor->device.device_type != dl::kCUDA)
        throw InvalidArgument(name + " has DLPack device type " + std::to_string(tensor->device.device_type) +
                              "; the GPU path takes CUDA device memory (type 2)");
    const DType dtype = dtype_of(tensor->dtype, name);
    std::vector<int64_t> shape(tensor->shape, tensor->shape + tensor->ndim);
    char* data = static_cast<char*>(tensor->data) + tensor->byte_offset;
    bool dense = true;
    if (tensor->strides) {
        int64_t expected = 1;
        for (int d = tensor->ndim - 1; d >= 0; --d) {
            if (shape[d] != 1 && tensor->strides[d] != expected) dense = false;
            expected *= shape[d];
        }
    }
    if (dense) return DeviceArray(buffer, data, shape, dtype);
    // A strided view (a transpose, a channels_last tensor, a slice): copy it to dense memory on the
    // call's stream. The copy's buffer takes over the borrowed tensor, so the source is released
    // only when the copy dies, after the copy kernel in stream order.
    DeviceArray result = DeviceArray::empty(shape, dtype, buffer->device, stream);
    std::vector<int64_t> strides(tensor->strides, tensor->strides + tensor->ndim);
    {
        py::gil_scoped_release release;
        cuda::copy_strided(result.data(), data, static_cast<std::size_t>(dtype_size(dtype)), shape, strides,
                           buffer->device, buffer->stream);
    }
    result.buffer()->borrowed = std::exchange(buffer->borrowed, nullptr);
    result.buffer()->borrowed_versioned = std::exchange(buffer->borrowed_versioned, nullptr);
    return result;
}

DeviceArray from_numpy(const py::array& array, int device, cuda::Stream stream) {
    DType dtype;
    if (array.dtype().is(py::dtype::of<float>())) dtype = DType::f32;
    else if (array.dtype().is(py::dtype::of<double>())) dtype = DType::f64;
    else if (array.dtype().is(py::dtype("float16"))) dtype = DType::f16;
    else throw UnsupportedType("from_numpy: dtype " + std::string(py::str(array.dtype())) +
                               ", expected float32, float64 or float16");
    if (!(array.flags() & py::array::c_style)) throw InvalidArgument("from_numpy: the array must be C-contiguous");
    std::vector<int64_t> shape(array.shape(), array.shape() + array.ndim());
    DeviceArray result = DeviceArray::empty(shape, dtype, device, stream);
    const void* host = array.data();
    py::gil_scoped_release release;
    cuda::copy_to_device(result.data(), host, static_cast<std::size_t>(result.nbytes()), device, result.stream());
    return result;
}

py::dtype numpy_dtype(DType dtype) {
    switch (dtype) {
        case DType::f32: return py::dtype::of<float>();
        case DType::f64: return py::dtype::of<double>();
        case DType::f16: return py::dtype("float16");
        case DType::bf16: return py::dtype("uint16");  // NumPy has no bfloat16: the raw bits
    }
    return py::dtype::of<float>();
}

// The array on the host; bfloat16, which NumPy lacks, comes back widened (exactly) to float32.
py::array to_numpy(const DeviceArray& array) {
    std::vector<py::ssize_t> extents(array.shape().begin(), array.shape().end());
    py::array result(numpy_dtype(array.dtype()), extents);
    void* host = result.mutable_data();
    {
        py::gil_scoped_release release;
        cuda::copy_to_host(host, array.data(), static_cast<std::size_t>(array.nbytes()), array.device(), array.stream());
    }
    if (array.dtype() != DType::bf16) return result;
    py::array_t<float> widened(extents);
    const auto* bits = static_cast<const uint16_t*>(result.data());
    float* out = widened.mutable_data();
    for (int64_t i = 0; i < array.size(); ++i) {
        const uint32_t word = uint32_t(bits[i]) << 16;
        std::memcpy(&out[i], &word, sizeof(word));
    }
    return std::move(widened);
}

// ---- ops ----------------------------------------------------------------------------------------

void require_same(const DeviceArray& input, const DeviceArray& other, const char* op, const char* name) {
    if (other.device() != input.device())
        throw InvalidArgument(std::string(op) + ": " + name + " is on CUDA device " + std::to_string(other.device()) +
                              " but input is on CUDA device " + std::to_string(input.device()) +
                              "; all arrays must be on one device");
    if (other.dtype() != input.dtype())
        throw UnsupportedType(std::string(op) + ": " + name + " has dtype " + dtype_name(other.dtype()) +
                              " but the input is " + dtype_name(input.dtype()) + "; all arrays must share one dtype");
}

DeviceArray conv_call(bool transposed, const DeviceArray& x, const DeviceArray& w, const std::optional<DeviceArray>& b,
                      const ConvParams& params, const std::string& algo_text, bool allow_tf32, cuda::Stream stream,
                      bool poisoned) {
    const char* op = transposed ? "conv_transpose" : "conv";
    stream = normalise_stream(stream);
    require_same(x, w, op, "weight");
    if (b) require_same(x, *b, op, "bias");
    const Algo algo = parse_algo(algo_text);
    const ConvProblem problem = transposed ? make_conv_transpose_problem(x.dtype(), x.shape(), w.shape(), params)
                                           : make_conv_problem(x.dtype(), x.shape(), w.shape(), params);
    if (b && (b->shape().size() != 1 || b->shape()[0] != problem.dst_channels()))
        throw InvalidArgument(std::string(op) + ": bias must have shape (" + std::to_string(problem.dst_channels()) +
                              ",) (one value per output channel)");
    std::vector<int64_t> out_shape{problem.batch, problem.dst_channels()};
    const Dims& spatial = transposed ? problem.in_size : problem.out_size;
    for (int d = kMaxSpatialDims - problem.ndim; d < kMaxSpatialDims; ++d) out_shape.push_back(spatial[d]);
    DeviceArray y = DeviceArray::empty(out_shape, x.dtype(), x.device(), stream, poisoned);
    cuda::Options options;
    options.allow_tf32 = allow_tf32;
    {
        py::gil_scoped_release release;
        cuda::run_conv(problem, algo, x.data(), w.data(), b ? b->data() : nullptr, y.data(), x.device(), stream, options);
        x.order_after(stream);
        w.order_after(stream);
        if (b) b->order_after(stream);
    }
    return y;
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

}  // namespace

void register_cuda(py::module_& m) {
    py::register_exception_translator([](std::exception_ptr error) {
        try {
            if (error) std::rethrow_exception(error);
        } catch (const cuda::OutOfMemory& e) {
            PyErr_SetString(PyExc_MemoryError, e.what());
        }
    });

    py::class_<DeviceArray>(m, "DeviceArray",
                            "A dense float32/float64 array in CUDA device memory, produced by fastconv's GPU ops. "
                            "It implements __dlpack__, __dlpack_device__ and __cuda_array_interface__ (version 3), so "
                            "torch.from_dlpack(a) and cupy.asarray(a) take it without a copy.")
        .def_property_readonly("shape", [](const DeviceArray& a) {
            py::list shape;
            for (int64_t extent : a.shape()) shape.append(extent);
            return py::tuple(shape);
        })
        .def_property_readonly(
            "dtype",
            [](const DeviceArray& a) -> py::object {
                if (a.dtype() == DType::bf16) return py::str("bfloat16");
                return numpy_dtype(a.dtype());
            },
            "a NumPy dtype (float32, float64, float16), or the string 'bfloat16'")
        .def_property_readonly("ndim", [](const DeviceArray& a) { return a.shape().size(); })
        .def_property_readonly("size", &DeviceArray::size)
        .def_property_readonly("nbytes", &DeviceArray::nbytes)
        .def_property_readonly("device", &DeviceArray::device, "CUDA device ordinal")
        .def_property_readonly("stream", [](const DeviceArray& a) { return static_cast<std::uintptr_t>(a.stream()); },
                               "the stream the array was produced on (1: legacy default)")
        .def_property_readonly("data_ptr", [](const DeviceArray& a) { return reinterpret_cast<std::uintptr_t>(a.data()); })
        .def("reshape", &DeviceArray::reshape, py::arg("shape"), "a view with another shape of the same size")
        .def("to_numpy", &to_numpy, "copies to a new NumPy array (synchronises the array's stream)")
        .def("get", &to_numpy, "same as to_numpy (CuPy's name)")
        .def("__dlpack__", &to_dlpack, py::kw_only(), py::arg("stream") = py::none(),
             py::arg("max_version") = py::none(), py::arg("dl_device") = py::none(), py::arg("copy") = py::none())
        .def("__dlpack_device__", [](const DeviceArray& a) { return py::make_tuple(int(dl::kCUDA), a.device()); })
        .def_property_readonly("__cuda_array_interface__", &cuda_array_interface)
        .def("__len__", [](const DeviceArray& a) {
            if (a.shape().empty()) throw py::type_error("len() of a 0-d array");
            return a.shape()[0];
        })
        .def("__repr__", [](const DeviceArray& a) {
            std::string shape;
            for (int64_t extent : a.shape()) shape += (shape.empty() ? "" : ", ") + std::to_string(extent);
            if (a.shape().size() == 1) shape += ",";
            return "fastconv.cuda.DeviceArray(shape=(" + shape + "), dtype=" + dtype_name(a.dtype()) + ", device=cuda:" +
                   std::to_string(a.device()) + ")";
        });

    m.def("cuda_from_dlpack", &from_dlpack, py::arg("capsule"), py::arg("stream"), py::arg("name"));
    m.def("cuda_from_numpy", &from_numpy, py::arg("array"), py::arg("device"), py::arg("stream"));
    m.def("cuda_device_name", &cuda::device_name, py::arg("device"));
    m.def("cuda_workspace_cap_bytes", [] { return cuda::kWorkspaceCapBytes; });
    m.def("cuda_implementations", &cuda::implementations);
    m.def(
        "cuda_conv",
        [](bool transposed, const DeviceArray& x, const DeviceArray& w, const std::optional<DeviceArray>& b,
           std::vector<int64_t> stride, std::vector<int64_t> dilation, std::vector<int64_t> pad_before,
           std::vector<int64_t> pad_after, std::vector<int64_t> output_padding, int64_t groups, const std::string& algo,
           bool allow_tf32, cuda::Stream stream, bool poisoned) {
            return conv_call(transposed, x, w, b,
                             params_of(std::move(stride), std::move(dilation), std::move(pad_before),
                                       std::move(pad_after), std::move(output_padding), groups),
                             algo, allow_tf32, stream, poisoned);
        },
        py::arg("transposed"), py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("dilation"),
        py::arg("pad_before"), py::arg("pad_after"), py::arg("output_padding"), py::arg("groups"), py::arg("algo"),
        py::arg("allow_tf32"), py::arg("stream"), py::arg("poison") = false);
    m.def(
        "cuda_selected_impl",
        [](bool transposed, const std::string& dtype_text, const std::vector<int64_t>& x_shape,
           const std::vector<int64_t>& w_shape, std::vector<int64_t> stride, std::vector<int64_t> dilation,
           std::vector<int64_t> pad_before, std::vector<int64_t> pad_after, std::vector<int64_t> output_padding,
           int64_t groups, const std::string& algo, bool allow_tf32) {
            DType dtype;
            if (dtype_text == "float32") dtype = DType::f32;
            else if (dtype_text == "float64") dtype = DType::f64;
            else if (dtype_text == "float16") dtype = DType::f16;
            else if (dtype_text == "bfloat16") dtype = DType::bf16;
            else throw UnsupportedType("dtype must be float32, float64, float16 or bfloat16, got '" + dtype_text + "'");
            const ConvParams params = params_of(std::move(stride), std::move(dilation), std::move(pad_before),
                                                std::move(pad_after), std::move(output_padding), groups);
            const ConvProblem problem = transposed ? make_conv_transpose_problem(dtype, x_shape, w_shape, params)
                                                   : make_conv_problem(dtype, x_shape, w_shape, params);
            cuda::Options options;
            options.allow_tf32 = allow_tf32;
            return cuda::selected_impl(problem, parse_algo(algo), options);
        },
        py::arg("transposed"), py::arg("dtype"), py::arg("x_shape"), py::arg("weight_shape"), py::arg("stride"),
        py::arg("dilation"), py::arg("pad_before"), py::arg("pad_after"), py::arg("output_padding"), py::arg("groups"),
        py::arg("algo"), py::arg("allow_tf32"));
    m.def(
        "cuda_unfold",
        [](const DeviceArray& x, std::vector<int64_t> kernel, std::vector<int64_t> dilation,
           std::vector<int64_t> pad_before, std::vector<int64_t> pad_after, std::vector<int64_t> stride,
           cuda::Stream stream, bool poisoned) {
            stream = normalise_stream(stream);
            const int ndim = static_cast<int>(kernel.size());
            if (static_cast<int>(x.shape().size()) != ndim + 2)
                throw InvalidArgument("unfold: input must have " + std::to_string(ndim + 2) + " dimensions (N, C, spatial...)");
            const std::vector<int64_t>& shape = x.shape();
            const ConvProblem problem = make_unfold_problem(
                x.dtype(), shape[0], shape[1], {shape.begin() + 2, shape.end()}, kernel,
                params_of(std::move(stride), std::move(dilation), std::move(pad_before), std::move(pad_after), {}, 1));
            DeviceArray columns = DeviceArray::empty({problem.batch, problem.gemm_k(), problem.out_spatial()}, x.dtype(),
                                                     x.device(), stream, poisoned);
            py::gil_scoped_release release;
            cuda::unfold(problem, x.data(), columns.data(), x.device(), stream);
            x.order_after(stream);
            return columns;
        },
        py::arg("x"), py::arg("kernel_size"), py::arg("dilation"), py::arg("pad_before"), py::arg("pad_after"),
        py::arg("stride"), py::arg("stream"), py::arg("poison") = false);
    m.def(
        "cuda_fold",
        [](const DeviceArray& columns, std::vector<int64_t> output_size, std::vector<int64_t> kernel,
           std::vector<int64_t> dilation, std::vector<int64_t> pad_before, std::vector<int64_t> pad_after,
           std::vector<int64_t> stride, cuda::Stream stream, bool poisoned) {
            stream = normalise_stream(stream);
            if (columns.shape().size() != 3)
                throw InvalidArgument("fold: input must have 3 dimensions (N, C * prod(kernel_size), L)");
            const std::vector<int64_t>& shape = columns.shape();
            int64_t taps = 1;
            for (int64_t k : kernel) {
                if (k < 1) throw InvalidArgument("fold: kernel_size must be positive");
                taps = checked_mul(taps, k, "kernel size");
            }
            if (shape[1] % taps != 0)
                throw InvalidArgument("fold: input.shape[1] (" + std::to_string(shape[1]) +
                                      ") must be divisible by the product of kernel_size (" + std::to_string(taps) + ")");
            const ConvProblem problem = make_unfold_problem(
                columns.dtype(), shape[0], shape[1] / taps, output_size, kernel,
                params_of(std::move(stride), std::move(dilation), std::move(pad_before), std::move(pad_after), {}, 1));
            if (shape[2] != problem.out_spatial())
                throw InvalidArgument("fold: input.shape[2] (" + std::to_string(shape[2]) +
                                      ") must equal the number of sliding blocks, which is " +
                                      std::to_string(problem.out_spatial()));
            std::vector<int64_t> out_shape{problem.batch, problem.in_channels};
            out_shape.insert(out_shape.end(), output_size.begin(), output_size.end());
            DeviceArray x = DeviceArray::empty(out_shape, columns.dtype(), columns.device(), stream, poisoned);
            py::gil_scoped_release release;
            cuda::fold(problem, columns.data(), x.data(), columns.device(), stream);
            columns.order_after(stream);
            return x;
        },
        py::arg("columns"), py::arg("output_size"), py::arg("kernel_size"), py::arg("dilation"), py::arg("pad_before"),
        py::arg("pad_after"), py::arg("stride"), py::arg("stream"), py::arg("poison") = false);
}
