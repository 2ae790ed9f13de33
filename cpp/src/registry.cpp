// The registry's order and the "auto" choice. Order matters: selection takes the first entry of a
// family that accepts, so specialised entries come before general ones and the reference is last.
#include "registry.hpp"

namespace fastconv {
namespace {

// Which family "auto" asks for. GEMM wins once the product is big enough to fill microkernel tiles;
// the direct kernels win when each output sums only a few terms (depthwise, tiny groups), where
// packing and im2col would cost more than the arithmetic. Thresholds come from the suite's layers
// and will be refined by benchmark data.
Algo auto_family(const ConvProblem& p) {
    const int64_t reduction = p.kind == ConvKind::forward ? p.gemm_k() : p.out_channels_per_group();
    const int64_t rows = p.kind == ConvKind::forward ? p.out_channels_per_group() : p.gemm_k();
    if (reduction < 16 || rows < 4) return Algo::direct;
    return Algo::im2col;
}

}  // namespace

const std::vector<ConvImpl>& conv_registry() {
    static const std::vector<ConvImpl> registry{
        gemm_1x1_impl,       im2col_gemm_impl,       gemm_col2im_impl,
        direct_forward_impl, direct_transposed_impl, reference_impl,
    };
    return registry;
}

Selection select(const ConvProblem& problem, Algo algo) {
    const Algo family = algo == Algo::automatic ? auto_family(problem) : algo;
    if (problem.layout == Layout::channels_last) {
        for (const ConvImpl& impl : conv_registry())
            if (impl.algo == family && impl.declines(problem).empty()) return {&impl, false};
        return {&select_impl(channels_first_view(problem), algo), true};
    }
    return {&select_impl(problem, algo), false};
}

const ConvImpl& select_impl(const ConvProblem& problem, Algo algo) {
    const Algo family = algo == Algo::automatic ? auto_family(problem) : algo;
    for (const ConvImpl& impl : conv_registry())
        if (impl.algo == family && impl.declines(problem).empty()) return impl;
    std::string reasons;
    for (const ConvImpl& impl : conv_registry())
        if (impl.algo == family) reasons += std::string("; ") + impl.name + ": " + impl.declines(problem);
    throw InvalidArgument(std::string("no implementation of algo '") + algo_name(family) + "' accepts " +
                          problem.describe() + reasons);
}

}  // namespace fastconv
