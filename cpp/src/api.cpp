// The C++ API entry points (fastconv.hpp): algorithm names, run_conv over the registry, unfold/fold
// over the shared im2col traversal, threads and build facts.
#include <algorithm>

#include "fastconv/cuda.hpp"
#include "fastconv/fastconv.hpp"
#include "im2col.hpp"
#include "layout.hpp"
#include "registry.hpp"
#include "runtime/float_mode.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/workspace.hpp"

namespace fastconv {

const char* version() { return FASTCONV_VERSION; }

namespace {
struct AlgoName {
    Algo algo;
    const char* name;
};
constexpr AlgoName kAlgoNames[] = {
    {Algo::automatic, "auto"}, {Algo::direct, "direct"}, {Algo::im2col, "im2col"},
    {Algo::winograd, "winograd"}, {Algo::reference, "reference"}};
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

// Runs a channels-last problem with `run`, which computes channels-first problems: src and dst are
// converted through per-thread scratch buffers reused across calls.
template <typename T, typename Run>
void run_converted(const ConvProblem& problem, const ConvArgs& args, Run&& run) {
    const ConvProblem first = channels_first_view(problem);
    const bool forward = problem.kind == ConvKind::forward;
    const int64_t src_channels = forward ? problem.in_channels : problem.out_channels;
    const int64_t dst_channels = problem.dst_channels();
    const int64_t src_spatial = forward ? problem.in_spatial() : problem.out_spatial();
    const int64_t dst_spatial = forward ? problem.out_spatial() : problem.in_spatial();
    through_transposed_copies(static_cast<const T*>(args.src), static_cast<T*>(args.dst), problem.batch, src_spatial,
                              src_channels, dst_channels, dst_spatial, [&](const T* src, T* dst) {
                                  run(first, ConvArgs{src, args.weight, args.bias, dst});
                              });
}

// The CPU kernels compute in float32 or float64; half-precision problems exist only on the GPU.
void require_cpu_dtype(const ConvProblem& problem) {
    if (problem.dtype != DType::f32 && problem.dtype != DType::f64)
        throw UnsupportedType(std::string("dtype ") + dtype_name(problem.dtype) +
                              " runs only on the GPU; the CPU takes float32 or float64");
}

// A problem with no terms (zero input or weight elements: C = 0 or K = 0 on the summed side) has
// the bias, or zeros, as its output. Written here so no kernel offsets the empty arrays' pointers,
// which may be null.
template <typename T>
void fill_with_bias(const ConvProblem& p, const T* bias, T* dst) {
    const int64_t channels = p.dst_channels();
    const int64_t spatial = p.kind == ConvKind::forward ? p.out_spatial() : p.in_spatial();
    for (int64_t n = 0; n < p.batch; ++n)
        for (int64_t s = 0; s < spatial; ++s)
            for (int64_t c = 0; c < channels; ++c) {
                const int64_t at = p.layout == Layout::channels_first ? (n * channels + c) * spatial + s
                                                                       : (n * spatial + s) * channels + c;
                dst[at] = bias ? bias[c] : T(0);
            }
}

// Runs the selection, with prepacked weights when `packed` is not null. Fast paths flush denormals
// (float_mode.hpp); the reference keeps IEEE gradual underflow, being the ground truth.
void run_selection(const Selection& selection, const ConvProblem& problem, const ConvArgs& args,
                   const void* packed) {
    if (problem.dst_elements() == 0) return;
    if (problem.src_elements() == 0 || problem.weight_elements() == 0) {
        problem.dtype == DType::f32
            ? fill_with_bias(problem, static_cast<const float*>(args.bias), static_cast<float*>(args.dst))
            : fill_with_bias(problem, static_cast<const double*>(args.bias), static_cast<double*>(args.dst));
        return;
    }
    const uint32_t mode = selection.impl->algo == Algo::reference ? float_mode() : float_mode() | kFlushDenormals;
    ScopedFloatMode scope(mode);
    auto run = [&](const ConvProblem& p, const ConvArgs& a) {
        packed ? selection.impl->run_packed(p, a, packed) : selection.impl->run(p, a);
    };
    if (!selection.converts_layout) {
        run(problem, args);
    } else if (problem.dtype == DType::f32) {
        run_converted<float>(problem, args, run);
    } else {
        run_converted<double>(problem, args, run);
    }
}

}  // namespace

void run_conv(const ConvProblem& problem, Algo algo, const void* src, const void* weight,
              const void* bias, void* dst) {
    require_cpu_dtype(problem);
    run_selection(select(problem, algo), problem, ConvArgs{src, weight, bias, dst}, nullptr);
}

struct ConvPlan::State {
    ConvProblem problem;
    Selection selection;
    std::vector<unsigned char> weight;  // a copy, for implementations without a packed form
    std::shared_ptr<const void> packed;
};

ConvPlan::ConvPlan(const ConvProblem& problem, Algo algo, const void* weight) {
    require_cpu_dtype(problem);
    auto state = std::make_shared<State>();
    state->problem = problem;
    state->selection = select(problem, algo, /*prepacked=*/true);
    const ConvImpl& impl = *state->selection.impl;
    if (impl.pack && impl.run_packed) {
        state->packed = impl.pack(state->selection.converts_layout ? channels_first_view(problem) : problem, weight);
    } else {
        const auto* bytes = static_cast<const unsigned char*>(weight);
        state->weight.assign(bytes, bytes + problem.weight_elements() * dtype_size(problem.dtype));
    }
    state_ = std::move(state);
}

const ConvProblem& ConvPlan::problem() const { return state_->problem; }

std::string ConvPlan::impl_name() const {
    return std::string(state_->selection.impl->name) + (state_->packed ? " (prepacked)" : "");
}

void ConvPlan::run(const void* src, const void* bias, void* dst) const {
    run_selection(state_->selection, state_->problem, ConvArgs{src, state_->weight.data(), bias, dst},
                  state_->packed.get());
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
    require_cpu_dtype(problem);
    problem.dtype == DType::f32
        ? unfold_typed(problem, static_cast<const float*>(x), static_cast<float*>(columns))
        : unfold_typed(problem, static_cast<const double*>(x), static_cast<double*>(columns));
}

void fold(const ConvProblem& problem, const void* columns, void* x) {
    require_cpu_dtype(problem);
    FlushDenormalsScope flush;  // fold sums overlapping blocks
    problem.dtype == DType::f32
        ? fold_typed(problem, static_cast<const float*>(columns), static_cast<float*>(x))
        : fold_typed(problem, static_cast<const double*>(columns), static_cast<double*>(x));
}

void set_num_threads(int num_threads) { ThreadPool::instance().set_num_threads(num_threads); }
int get_num_threads() { return ThreadPool::instance().num_threads(); }

bool cuda_compiled() { return cuda::compiled(); }

int cuda_device_count() { return cuda::device_count(); }

}  // namespace fastconv
