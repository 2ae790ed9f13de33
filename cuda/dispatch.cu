// The GPU registry: the ordered list of CUDA implementations, selection by algo family as on the
// CPU (the first entry of the family that accepts the problem), and the entry points of
// fastconv/cuda.hpp that run a convolution, unfold or fold on a device.
//
//   direct:    cuda_direct_depthwise, cuda_direct_1x1, cuda_direct_tiled, cuda_implicit_gemm (the
//              forward catch-all with no column buffer), cuda_implicit_gemm_dgrad (transposed, the
//              stride decomposition)
//   im2col:    cuda_im2col_gemm (forward), cuda_gemm_col2im (transposed)
//   reference: cuda_reference, cuda_reference_transposed (one thread per output, summed in double)
//   auto:      depthwise, then 1x1; transposed layers GEMM + col2im; grouped layers of at most 32
//              output channels per group the tiled direct kernel; other forward layers im2col +
//              GEMM up to 4096 GEMM rows (M = N·P·Q), the implicit GEMM above. From the first
//              H200 record (docs/benchmarks.md): GEMM + col2im beat the stride decomposition on
//              every transposed layer of the suite (1.4-26x), and im2col beat the implicit GEMM
//              on every forward layer with M <= 3136 (1.4-1.8x) and lost on every one with
//              M >= 6272 (1.2-4.6x), the implicit GEMM's gathers costing more than a column
//              buffer's dense loads where few tiles share the GPU. The second (e3e64fb): on
//              grouped_3x3 (32 groups of 8 channels) the tiled kernel, whose 32-channel tile
//              holds a whole group, took 0.020 ms against im2col's 0.038 (32 GEMMs 8 wide).
#include <string>
#include <vector>

#include "common.cuh"

namespace fastconv::cuda {
namespace {

struct Args {
    const ConvGeometry& g;
    const void* src;
    const void* weight;
    const void* bias;
    void* dst;
    cudaStream_t stream;
    bool tf32;
};

template <typename T>
const T* in(const void* p) {
    return static_cast<const T*>(p);
}

using Runner = void (*)(const Args&);
struct GpuImpl {
    const char* name;
    Algo algo;
    std::string (*declines)(const ConvProblem&);
    Runner f32, f64, f16, bf16;  // null where the implementation declines the dtype

    Runner runner(DType dtype) const {
        switch (dtype) {
            case DType::f32: return f32;
            case DType::f64: return f64;
            case DType::f16: return f16;
            case DType::bf16: return bf16;
        }
        return nullptr;
    }
};

std::string forward_only(const ConvProblem& p) { return p.kind == ConvKind::forward ? "" : "forward only"; }
std::string transposed_only(const ConvProblem& p) { return p.kind == ConvKind::transposed ? "" : "transposed only"; }

template <typename T>
void run_depthwise(const Args& a) {
    direct_depthwise<T>(a.g, in<T>(a.src), in<T>(a.weight), in<T>(a.bias), static_cast<T*>(a.dst), a.stream);
}
template <typename T>
void run_pointwise(const Args& a) {
    direct_pointwise<T>(a.g, in<T>(a.src), in<T>(a.weight), in<T>(a.bias), static_cast<T*>(a.dst), a.stream, a.tf32);
}
template <typename T>
void run_tiled(const Args& a) {
    direct_tiled<T>(a.g, in<T>(a.src), in<T>(a.weight), in<T>(a.bias), static_cast<T*>(a.dst), a.stream);
}
template <typename T, bool kTransposed>
void run_implicit(const Args& a) {
    implicit_gemm<T>(a.g, kTransposed, in<T>(a.src), in<T>(a.weight), in<T>(a.bias), static_cast<T*>(a.dst), a.stream,
                     a.tf32);
}
template <typename T>
void run_im2col(const Args& a) {
    im2col_gemm<T>(a.g, in<T>(a.src), in<T>(a.weight), in<T>(a.bias), static_cast<T*>(a.dst), a.stream, a.tf32);
}
template <typename T>
void run_col2im(const Args& a) {
    gemm_col2im<T>(a.g, in<T>(a.src), in<T>(a.weight), in<T>(a.bias), static_cast<T*>(a.dst), a.stream, a.tf32);
}
template <typename T, bool kTransposed>
void run_reference(const Args& a) {
    reference_conv<T>(a.g, kTransposed, in<T>(a.src), in<T>(a.weight), in<T>(a.bias), static_cast<T*>(a.dst),
                      a.stream);
}

const std::vector<GpuImpl>& registry() {
#define FASTCONV_ALL_DTYPES(run) run<float>, run<double>, run<__half>, run<__nv_bfloat16>
#define FASTCONV_ALL_DTYPES_2(run, flag) run<float, flag>, run<double, flag>, run<__half, flag>, run<__nv_bfloat16, flag>
    static const std::vector<GpuImpl> impls{
        {"cuda_direct_depthwise", Algo::direct, direct_depthwise_declines, run_depthwise<float>, run_depthwise<double>,
         nullptr, nullptr},
        {"cuda_direct_1x1", Algo::direct, direct_pointwise_declines, FASTCONV_ALL_DTYPES(run_pointwise)},
        {"cuda_direct_tiled", Algo::direct, direct_tiled_declines, run_tiled<float>, run_tiled<double>, nullptr,
         nullptr},
        {"cuda_implicit_gemm", Algo::direct, forward_only, FASTCONV_ALL_DTYPES_2(run_implicit, false)},
        {"cuda_implicit_gemm_dgrad", Algo::direct, transposed_only, FASTCONV_ALL_DTYPES_2(run_implicit, true)},
        {"cuda_im2col_gemm", Algo::im2col, forward_only, FASTCONV_ALL_DTYPES(run_im2col)},
        {"cuda_gemm_col2im", Algo::im2col, transposed_only, FASTCONV_ALL_DTYPES(run_col2im)},
        {"cuda_reference", Algo::reference, forward_only, FASTCONV_ALL_DTYPES_2(run_reference, false)},
        {"cuda_reference_transposed", Algo::reference, transposed_only, FASTCONV_ALL_DTYPES_2(run_reference, true)},
    };
#undef FASTCONV_ALL_DTYPES
#undef FASTCONV_ALL_DTYPES_2
    return impls;
}

const GpuImpl& find(const char* name) {
    for (const GpuImpl& impl : registry())
        if (std::string(impl.name) == name) return impl;
    throw std::logic_error(std::string("cuda registry has no ") + name);
}

const GpuImpl& select(const ConvProblem& p, Algo algo) {
    if (p.layout != Layout::channels_first)
        throw InvalidArgument("cuda: kernels read dense channels-first memory (the binding makes it so)");
    if (algo == Algo::automatic) {
        constexpr int64_t kIm2colMaxRows = 4096;
        const bool few_rows = p.batch * p.out_spatial() <= kIm2colMaxRows;
        std::vector<const char*> order{"cuda_direct_depthwise", "cuda_direct_1x1", "cuda_gemm_col2im"};
        if (p.groups > 1 && p.out_channels_per_group() <= kTiledChannels) order.push_back("cuda_direct_tiled");
        order.push_back(few_rows ? "cuda_im2col_gemm" : "cuda_implicit_gemm");
        for (const char* name : order) {
            const GpuImpl& impl = find(name);
            if (impl.declines(p).empty() && impl.runner(p.dtype) != nullptr) return impl;
        }
    }
    std::string reasons;
    for (const GpuImpl& impl : registry()) {
        if (impl.algo != algo) continue;
        const std::string reason = impl.declines(p);
        if (reason.empty()) return impl;
        reasons += std::string("; ") + impl.name + ": " + reason;
    }
    throw InvalidArgument(std::string("cuda: no implementation of algo '") + algo_name(algo) + "' accepts " +
                          p.describe() + reasons);
}

}  // namespace

void run_conv(const ConvProblem& problem, Algo algo, const void* src, const void* weight, const void* bias, void* dst,
              int device, Stream stream, const Options& options) {
    const GpuImpl& impl = select(problem, algo);
    if (problem.dst_elements() == 0) return;
    DeviceGuard guard(device);
    const ConvGeometry g = geometry_of(problem);
    const Args args{g, src, weight, bias, dst, as_cuda_stream(stream), options.allow_tf32};
    impl.runner(problem.dtype)(args);
}

std::string selected_impl(const ConvProblem& problem, Algo algo, const Options& options) {
    const GpuImpl& impl = select(problem, algo);
    const std::string name = impl.name;  // the GEMM-shaped paths are the ones with a TF32 kernel
    const bool tensor_cores = options.allow_tf32 && problem.dtype != DType::f64 &&
                              (name.find("gemm") != std::string::npos || name == "cuda_direct_1x1");
    return name + (tensor_cores ? " (tf32)" : "");
}

std::vector<std::pair<std::string, std::string>> implementations() {
    std::vector<std::pair<std::string, std::string>> rows;
    for (const GpuImpl& impl : registry()) rows.emplace_back(impl.name, algo_name(impl.algo));
    return rows;
}

namespace {

template <template <typename> class Op>
void by_dtype(DType dtype, const ConvGeometry& g, const void* in, void* out, cudaStream_t stream) {
    switch (dtype) {
        case DType::f32: return Op<float>::run(g, in, out, stream);
        case DType::f64: return Op<double>::run(g, in, out, stream);
        case DType::f16: return Op<__half>::run(g, in, out, stream);
        case DType::bf16: return Op<__nv_bfloat16>::run(g, in, out, stream);
    }
}

template <typename T>
struct UnfoldOp {
    static void run(const ConvGeometry& g, const void* x, void* columns, cudaStream_t stream) {
        im2col_batch<T>(g, static_cast<const T*>(x), static_cast<T*>(columns), stream);
    }
};
template <typename T>
struct FoldOp {
    static void run(const ConvGeometry& g, const void* columns, void* x, cudaStream_t stream) {
        col2im_batch<T>(g, static_cast<const T*>(columns), static_cast<T*>(x), stream);
    }
};

}  // namespace

void unfold(const ConvProblem& problem, const void* x, void* columns, int device, Stream stream) {
    if (problem.batch == 0) return;
    DeviceGuard guard(device);
    by_dtype<UnfoldOp>(problem.dtype, geometry_of(problem), x, columns, as_cuda_stream(stream));
}

void fold(const ConvProblem& problem, const void* columns, void* x, int device, Stream stream) {
    if (problem.batch == 0) return;
    DeviceGuard guard(device);
    by_dtype<FoldOp>(problem.dtype, geometry_of(problem), columns, x, as_cuda_stream(stream));
}

}  // namespace fastconv::cuda
