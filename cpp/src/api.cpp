// The C++ API entry points (fastconv.hpp): algorithm names, run_conv over the registry, unfold/fold
// over the shared im2col traversal, threads and build facts.
#include <algorithm>

#include "fastconv/fastconv.hpp"
#include "im2col.hpp"
#include "layout.hpp"
#include "registry.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/workspace.hpp"

namespace fastconv {

#if defined(FASTCONV_WITH_CUDA)
namespace cuda {
int device_count();  // cuda/device.cu
}
#endif

const char* version() { return FASTCONV_VERSION; }

namespace {
struct AlgoName {
    Algo algo;
    const char* name;
};
constexpr AlgoName kAlgoNames[] = {
    {Algo::automatic, "auto"}, {Algo::direct, "direct"}, {Algo::im2col, "im2col"}, {Algo::reference, "reference"}};
}  // namespace

Algo parse_algo(const std::string& name) {
    for (const AlgoName& entry : kAlgoNames)
        if (name == entry.name) return entry.algo;
    std::string valid;
    for (const AlgoName& entry : kAlgoNames) valid += std::string(valid.empty() ? "" : ", ") + "'" + entry.name + "'";
    throw InvalidArgument("algo must be one of " + valid + ", got '" + name + "'");
}

const char* algo_name(Algo algo) {
    for (const AlgoName& entry : kAlgoNames)
        if (entry.algo == algo) return entry.name;
    return "unknown";
}

std::vector<std::string> algo_names() {
    std::vector<std::string> names;
    for (const AlgoName& entry : kAlgoNames) names.emplace_back(entry.name);
    return names;
}

namespace {

// Runs a channels-last problem with a channels-first implementation: src and dst are converted
// through per-thread scratch buffers reused across calls.
template <typename T>
void run_converted(const ConvImpl& impl, const ConvProblem& problem, const ConvArgs& args) {
    const ConvProblem first = channels_first_view(problem);
    const bool forward = problem.kind == ConvKind::forward;
    const int64_t src_channels = forward ? problem.in_channels : problem.out_channels;
    const int64_t dst_channels = problem.dst_channels();
    const int64_t src_spatial = forward ? problem.in_spatial() : problem.out_spatial();
    const int64_t dst_spatial = forward ? problem.out_spatial() : problem.in_spatial();
    T* src = scratch<T>(ScratchSlot::layout_src, problem.src_elements());
    T* dst = scratch<T>(ScratchSlot::layout_dst, problem.dst_elements());
    transpose_images(static_cast<const T*>(args.src), src, problem.batch, src_spatial, src_channels);
    impl.run(first, ConvArgs{src, args.weight, args.bias, dst});
    transpose_images(dst, static_cast<T*>(args.dst), problem.batch, dst_channels, dst_spatial);
}

}  // namespace

void run_conv(const ConvProblem& problem, Algo algo, const void* src, const void* weight,
              const void* bias, void* dst) {
    const Selection selection = select(problem, algo);
    if (problem.dst_elements() == 0) return;
    const ConvArgs args{src, weight, bias, dst};
    if (!selection.converts_layout) {
        selection.impl->run(problem, args);
    } else if (problem.dtype == DType::f32) {
        run_converted<float>(*selection.impl, problem, args);
    } else {
        run_converted<double>(*selection.impl, problem, args);
    }
}

std::string selected_impl(const ConvProblem& problem, Algo algo) {
    const Selection selection = select(problem, algo);
    return std::string(selection.impl->name) + (selection.converts_layout ? " (via channels-first copies)" : "");
}

std::vector<ImplChoice> explain_selection(const ConvProblem& problem, Algo algo) {
    std::vector<ImplChoice> choices;
    for (const ConvImpl& impl : conv_registry()) {
        std::string reason = impl.declines(problem);
        if (reason.empty() && algo != Algo::automatic && impl.algo != algo)
            reason = std::string("belongs to algo '") + algo_name(impl.algo) + "', not '" + algo_name(algo) + "'";
        choices.push_back({impl.name, algo_name(impl.algo), reason.empty(), reason});
    }
    return choices;
}

namespace {

template <typename T>
void unfold_typed(const ConvProblem& p, const T* x, T* columns) {
    const int64_t X = p.in_spatial(), L = p.out_spatial(), rows = p.kernel_spatial();
    parallel_for(p.batch * p.in_channels, [&](int64_t task) {
        im2col(p, x + task * X, 1, 0, L, columns + task * rows * L, L);
    });
}

template <typename T>
void fold_typed(const ConvProblem& p, const T* columns, T* x) {
    const int64_t X = p.in_spatial(), L = p.out_spatial(), rows = p.kernel_spatial();
    parallel_for(p.batch * p.in_channels, [&](int64_t task) {
        T* x_channel = x + task * X;
        std::fill_n(x_channel, X, T(0));
        col2im_add(p, columns + task * rows * L, L, 1, 0, L, x_channel);
    });
}

}  // namespace

void unfold(const ConvProblem& problem, const void* x, void* columns) {
    problem.dtype == DType::f32
        ? unfold_typed(problem, static_cast<const float*>(x), static_cast<float*>(columns))
        : unfold_typed(problem, static_cast<const double*>(x), static_cast<double*>(columns));
}

void fold(const ConvProblem& problem, const void* columns, void* x) {
    problem.dtype == DType::f32
        ? fold_typed(problem, static_cast<const float*>(columns), static_cast<float*>(x))
        : fold_typed(problem, static_cast<const double*>(columns), static_cast<double*>(x));
}

void set_num_threads(int num_threads) { ThreadPool::instance().set_num_threads(num_threads); }
int get_num_threads() { return ThreadPool::instance().num_threads(); }

bool cuda_compiled() {
#if defined(FASTCONV_WITH_CUDA)
    return true;
#else
    return false;
#endif
}

int cuda_device_count() {
#if defined(FASTCONV_WITH_CUDA)
    return cuda::device_count();
#else
    return 0;
#endif
}

}  // namespace fastconv
