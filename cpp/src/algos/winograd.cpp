// Registry entries of the "winograd" family (algorithm in winograd/winograd.hpp): F(4x4, 3x3)
// first, F(2x2, 3x3) for layers with so few tiles that it needs hardly more GEMM products (the 4x4
// tiles' padding rows outweigh their fewer multiplies) and its smaller filter transform wins
// (winograd::prefers_2x2). Forward 2-D 3x3 convolutions, and 3-D (KD, 3, 3) ones as KD depth taps
// of 3x3 Winograd summed by the GEMM, with unit stride, any dilation (phase by phase) and padding,
// groups as one GEMM per group, float32 and float64. Channels-last memory is read in place;
// channels-first memory band by band through per-thread channels-last copies (2-D undilated) or
// through whole-tensor ones.
//
// pack transforms the filters once (U = G g G^T), so a prepacked plan's runs start at the input
// transform, except where the filters outweigh the activations: there plans and functional calls
// alike transform them inside the GEMM tasks (winograd::run_fused_filter).
#include <memory>
#include <vector>

#include "registry.hpp"
#include "runtime/workspace.hpp"
#include "winograd/winograd.hpp"

namespace fastconv {
namespace {

std::string declines_3x3_unit_stride(const ConvProblem& p) {
    if (p.kind != ConvKind::forward) return "handles forward convolutions only";
    if (p.ndim < 2) return "2-D and 3-D convolutions only";
    if (p.kernel[1] != 3 || p.kernel[2] != 3) return "needs a 3x3 kernel (in 3-D: any depth x 3 x 3)";
    if (p.stride[0] != 1 || p.stride[1] != 1 || p.stride[2] != 1) return "needs stride 1";
    return {};
}

std::string declines_f4(const ConvProblem& p) {
    std::string reason = declines_3x3_unit_stride(p);
    if (reason.empty() && winograd::prefers_2x2(p))
        reason = "few tiles: F(2x2, 3x3) needs at most 25% more products and smaller filter transforms";
    return reason;
}

std::string declines_f2(const ConvProblem& p) {
    std::string reason = declines_3x3_unit_stride(p);
    if (reason.empty() && !winograd::prefers_2x2(p)) reason = "F(4x4, 3x3) needs 25% fewer products";
    return reason;
}

template <typename T>
void run_typed(const winograd::Ukernel<T>& ukernel, const ConvProblem& p, const ConvArgs& args, const T* u) {
    const T* x = static_cast<const T*>(args.src);
    const T* bias = static_cast<const T*>(args.bias);
    T* y = static_cast<T*>(args.dst);
    if (p.layout == Layout::channels_last) winograd::run_channels_last(ukernel, p, u, x, bias, y);
    else winograd::run_channels_first(ukernel, p, u, x, bias, y);
}

// A functional call whose transformed filters outweigh its activations transforms them chunk by
// chunk inside the GEMM tasks (winograd::run_fused_filter: resnet_3x3_14 at batch 1 runs 1.5x
// faster than through a whole U). Otherwise it transforms them into scratch reused across calls
// (4x the weights for F(4x4), 16/9 for F(2x2): fresh pages every call would cost more than the
// transform).
template <typename T>
void run_with_scratch_filter(const winograd::Ukernel<T>& ukernel, const ConvProblem& p, const ConvArgs& args) {
    if (winograd::fuses_filter_transform<T>(p, ukernel.m)) {
        winograd::run_fused_filter(ukernel, p, static_cast<const T*>(args.weight), static_cast<const T*>(args.src),
                                   static_cast<const T*>(args.bias), static_cast<T*>(args.dst));
        return;
    }
    T* u = scratch<T>(ScratchSlot::packed_weights, winograd::filter_elements<T>(p, ukernel.m));
    winograd::transform_filter(ukernel, p, static_cast<const T*>(args.weight), u);
    run_typed(ukernel, p, args, u);
}

// What a plan keeps: the whole U, or, for a problem whose functional call fuses the filter
// transform into the GEMM tasks, a copy of the weights, and each run fuses it the same way: U is
// 4x the weights for F(4x4) and would make a round trip from memory on every run (resnet_3x3_7:
// 38 MB of U against 9.4 MB of weights; 3.2 ms a run fused, 5.1 ms from a whole U, Zen 3).
template <typename T>
struct PackedFilters {
    bool fused;
    std::vector<T> values;
};

template <typename T>
std::shared_ptr<const void> pack_typed(const winograd::Ukernel<T>& ukernel, const ConvProblem& p, const void* weight) {
    auto packed = std::make_shared<PackedFilters<T>>();
    packed->fused = winograd::fuses_filter_transform<T>(p, ukernel.m);
    const T* w = static_cast<const T*>(weight);
    if (packed->fused) {
        packed->values.assign(w, w + p.weight_elements());
    } else {
        packed->values.resize(static_cast<size_t>(winograd::filter_elements<T>(p, ukernel.m)));
        winograd::transform_filter(ukernel, p, w, packed->values.data());
    }
    return packed;
}

template <int M>
std::shared_ptr<const void> pack(const ConvProblem& p, const void* weight) {
    if (p.dtype == DType::f32) return pack_typed(winograd::active_ukernel<float>(M), p, weight);
    return pack_typed(winograd::active_ukernel<double>(M), p, weight);
}

template <typename T>
void run_packed_typed(const winograd::Ukernel<T>& ukernel, const ConvProblem& p, const ConvArgs& args,
                      const void* packed) {
    const auto& filters = *static_cast<const PackedFilters<T>*>(packed);
    if (filters.fused) {
        winograd::run_fused_filter(ukernel, p, filters.values.data(), static_cast<const T*>(args.src),
                                   static_cast<const T*>(args.bias), static_cast<T*>(args.dst));
        return;
    }
    run_typed(ukernel, p, args, filters.values.data());
}

template <int M>
void run_packed(const ConvProblem& p, const ConvArgs& args, const void* packed) {
    if (p.dtype == DType::f32) run_packed_typed(winograd::active_ukernel<float>(M), p, args, packed);
    else run_packed_typed(winograd::active_ukernel<double>(M), p, args, packed);
}

template <int M>
void run(const ConvProblem& p, const ConvArgs& args) {
    if (p.dtype == DType::f32) run_with_scratch_filter(winograd::active_ukernel<float>(M), p, args);
    else run_with_scratch_filter(winograd::active_ukernel<double>(M), p, args);
}

}  // namespace

const ConvImpl winograd_4x4_impl{"winograd_4x4_3x3", Algo::winograd, declines_f4, run<4>, pack<4>, run_packed<4>};
const ConvImpl winograd_2x2_impl{"winograd_2x2_3x3", Algo::winograd, declines_f2, run<2>, pack<2>, run_packed<2>};

namespace winograd {
template <typename T>
void run_with(const Ukernel<T>& ukernel, const ConvProblem& p, const ConvArgs& args) {
    run_with_scratch_filter(ukernel, p, args);
}
template void run_with<float>(const Ukernel<float>&, const ConvProblem&, const ConvArgs&);
template void run_with<double>(const Ukernel<double>&, const ConvProblem&, const ConvArgs&);
}  // namespace winograd

}  // namespace fastconv
