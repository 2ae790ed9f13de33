// The ordered registry of convolution implementations (oneDNN's idea): each entry says whether it
// accepts a problem or why it declines; selection takes the first acceptable entry of the requested
// algorithm family, so dispatch, `explain_selection`, tests and benchmarks all read one list.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace fastconv {

struct ConvArgs {
    const void* src;     // forward: x; transposed: y
    const void* weight;  // (K, C/groups, kernel...)
    const void* bias;    // dst_channels() values, or null
    void* dst;           // forward: y; transposed: x
};

struct ConvImpl {
    const char* name;
    Algo algo;
    // Empty when the implementation accepts the problem, else the reason it declines.
    std::string (*declines)(const ConvProblem& problem);
    void (*run)(const ConvProblem& problem, const ConvArgs& args);
    // Optional, for prepacked plans: pack the weights once (layout, transforms) and run many times;
    // run(p, args) must equal run_packed(p, args, pack(p, args.weight).get()) bit for bit.
    std::shared_ptr<const void> (*pack)(const ConvProblem& problem, const void* weight) = nullptr;
    void (*run_packed)(const ConvProblem& problem, const ConvArgs& args, const void* packed) = nullptr;
};

// The decline reason of implementations that read and write only (N, C, spatial...) memory.
inline std::string needs_channels_first(const ConvProblem& p) {
    return p.layout == Layout::channels_first ? std::string() : "needs channels-first (N, C, spatial...) memory";
}

// What run_conv does for a problem: run `impl`, on the problem as given or, when no implementation
// of the family reads channels-last memory, on a channels-first copy converted in and out.
struct Selection {
    const ConvImpl* impl;
    bool converts_layout;
};
// `prepacked`: for a plan, whose weight packing is paid once, not per call.
Selection select(const ConvProblem& problem, Algo algo, bool prepacked = false);

const std::vector<ConvImpl>& conv_registry();

// Whether Winograd's error stays within what "auto" allows (docs/winograd.md): float32, and at
// most 512 input channels per group times depth taps (3-D layers sum KD Winograd products).
// "auto" and the Python autotuner both keep to it.
bool winograd_accurate_for_auto(DType dtype, int64_t depth_taps, int64_t in_channels_per_group);

// The forward 3x3 stride-1 problem (channels-last) that winograd_sub_pixel runs a transposed
// problem it accepts as (algos/winograd.cpp): input p's input, stride_h * stride_w blocks of p's
// output channels, one per sub-pixel class, at ceil(size / stride) pixels per dimension.
ConvProblem winograd_sub_pixel_problem(const ConvProblem& p);

// The first entry of the family that accepts the problem exactly as given; throws InvalidArgument
// listing every entry's reason when none does.
const ConvImpl& select_impl(const ConvProblem& problem, Algo algo, bool prepacked = false);

// A 1x1 kernel without padding: every output pixel reads one input pixel through one tap.
inline bool is_unpadded_1x1(const ConvProblem& p) {
    for (int d = 0; d < kMaxSpatialDims; ++d)
        if (p.kernel[d] != 1 || p.pad_before[d] != 0 || p.pad_after[d] != 0) return false;
    return true;
}

inline bool is_unit_stride(const ConvProblem& p) {
    for (int d = 0; d < kMaxSpatialDims; ++d)
        if (p.stride[d] != 1) return false;
    return true;
}

// A forward 1x1 layer with a stride and no padding: it reads one pixel in prod(stride). On
// channels-first memory igemm gathers just those into its channels-last copy (igemm_conv.cpp),
// which is why "auto" sends such a layer there rather than to the im2col GEMM.
inline bool is_strided_pointwise(const ConvProblem& p) {
    return p.kind == ConvKind::forward && is_unpadded_1x1(p) && !is_unit_stride(p);
}

// The same problem over channels-first memory.
inline ConvProblem channels_first_view(ConvProblem p) {
    p.layout = Layout::channels_first;
    return p;
}

// Declared by the algorithm files, listed in order by registry.cpp.
extern const ConvImpl gemm_1x1_impl;
extern const ConvImpl gemm_1x1_nhwc_impl;
extern const ConvImpl small_image_gemm_impl;
extern const ConvImpl im2col_gemm_impl;
extern const ConvImpl gemm_col2im_impl;
extern const ConvImpl depthwise_impl;
extern const ConvImpl direct_chw_impl;
extern const ConvImpl padded_chw_impl;
extern const ConvImpl winograd_4x4_impl;
extern const ConvImpl winograd_2x2_impl;
extern const ConvImpl winograd_sub_pixel_impl;
extern const ConvImpl igemm_impl;
extern const ConvImpl direct_forward_impl;
extern const ConvImpl direct_transposed_impl;
extern const ConvImpl reference_impl;

namespace igemm {
struct Ukernel;
// igemm_impl with an explicit microkernel, so tests cover every compiled ISA variant.
void run_with(const Ukernel& ukernel, const ConvProblem& problem, const ConvArgs& args);
}  // namespace igemm

namespace small_image {
// small_image_gemm_impl with an explicit igemm microkernel, on any forward channels-first problem
// (its efficiency rule aside), so tests cover every compiled ISA variant.
void run_with(const igemm::Ukernel& ukernel, const ConvProblem& problem, const ConvArgs& args);
}  // namespace small_image

namespace convchw {
struct Ukernel;
struct FlatUkernel;
// direct_chw_impl and padded_chw_impl with an explicit microkernel, so tests cover every compiled
// ISA variant.
void run_with(const Ukernel& ukernel, const ConvProblem& problem, const ConvArgs& args);
void run_with(const FlatUkernel& ukernel, const ConvProblem& problem, const ConvArgs& args);
}  // namespace convchw
namespace winograd {
template <typename T>
struct Ukernel;
// The winograd entries with an explicit tile-transform kernel (its m picks F(4x4) or F(2x2)), so
// tests cover every compiled ISA variant and both tile sizes on any problem the family accepts.
template <typename T>
void run_with(const Ukernel<T>& ukernel, const ConvProblem& problem, const ConvArgs& args);
}  // namespace winograd

namespace dwconv {
struct Ukernel;
// depthwise_impl with an explicit microkernel, so tests cover every compiled ISA variant.
void run_with(const Ukernel& ukernel, const ConvProblem& problem, const ConvArgs& args);
}  // namespace dwconv

}  // namespace fastconv
