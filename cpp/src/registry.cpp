// The registry's order and the "auto" choice. Order matters: selection takes the first entry of a
// family that accepts, so specialised entries come before general ones and the reference is last.
#include "registry.hpp"

#include <algorithm>

#include "igemm/igemm.hpp"
#include "winograd/winograd.hpp"

namespace fastconv {
namespace {

// Winograd (docs/winograd.md), float32 only: F(4x4, 3x3) does 4x fewer products than direct
// summation (the registry runs F(2x2, 3x3) where that is cheaper), and wins where its GEMMs get at
// least 16 channels each way and enough tiles. A functional call also transforms the filters
// (36 Cg Kg values written and read again, from L3 once they outgrow L2), which takes Cg * Kg / 512
// tiles of 4x4 outputs in the batch to amortise: the measured break-even against igemm moves from
// ~16 tiles at 64x64 channels to ~128 at 256x256. Unless the filters outweigh the activations: then
// the call transforms them chunk by chunk inside the GEMM tasks (winograd::run_fused_filter), in
// L2, for little more than reading the weights, and 4 tiles suffice (Zen 3: resnet_3x3_14's 16
// tiles 1.6 against igemm's 3.3 ms; resnet_3x3_7's 4 tiles 3.0 against small_image_gemm's 3.9 ms
// at 1 thread, 2.5 against 2.7 at 2). A plan, whose igemm weights are packed already, wins with
// Winograd from 16 tiles (resnet_3x3_7 as a plan: 3.0 against 3.4 ms at 1 thread but 2.4 against
// 2.2 at 2). Its error on uniform data, at most 5.9e-6 of max |y| for up to 512 input channels
// per group, keeps within the 1e-5 that "auto" allows; wider reductions are unmeasured and stay on
// igemm. float64 keeps its exact-as-possible paths: Winograd's error there is several times
// direct's.
// The GEMMs' rows are the batch's tiles rounded up to the microkernel's MR, so a few tiles on a
// tall tile cost as many products as direct summation: AVX-512's 14-row tile gives resnet_3x3_7's
// F(2x2) 28 rows of 16 products per channel pair against direct's 49 x 9 = 441 (F(4x4): 14 x 36),
// and Winograd took 2.9 ms there against small_image_gemm's 2.3 (Xeon, 1 thread; 1.56 against
// 1.25 at 2). So Winograd must do at most 2/3 of direct's products (AVX2's 6-row tile: F(4x4)
// 6 x 36 = 216 against 441, the Zen 3 win above).
//
// A transposed problem is judged by its sub-pixel form (winograd_sub_pixel): direct summation does
// one product per input pixel, tap and channel pair; the forward form's products per channel pair
// count once per class (stride_h * stride_w blocks of output channels). So only kernels that give
// every class a full 3x3 window pay: DCGAN's 4x4 at stride 2 (batch8_up: 0.57 of direct's
// products; Zen 3, 1 thread, alternated processes: 16% faster than igemm in either layout, in
// medians and minima; 2 threads: 2-10% in minima); fcn_up_3x3's 2x2 windows or unet_up_2x2's
// single taps would do more.
bool winograd_wins(const ConvProblem& problem, bool prepacked) {
    const bool transposed = problem.kind == ConvKind::transposed;
    if (transposed ? !winograd_sub_pixel_impl.declines(problem).empty()
                   : !winograd_4x4_impl.declines(problem).empty() && !winograd_2x2_impl.declines(problem).empty())
        return false;
    const ConvProblem p = transposed ? winograd_sub_pixel_problem(problem) : problem;
    if (!winograd_accurate_for_auto(p.dtype, p.kernel[0], p.in_channels_per_group())) return false;
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group();
    if (Cg < 16 || Kg < 16) return false;
    const int m = winograd::prefers_2x2(p) ? 2 : 4;
    const int64_t classes = problem.stride[1] * problem.stride[2];
    const int64_t direct_products = transposed ? problem.batch * problem.out_spatial() * problem.kernel_spatial()
                                               : p.batch * p.out_spatial() * p.kernel[1] * p.kernel[2];
    if (3 * winograd::gemm_products(p, m) * (transposed ? classes : 1) > 2 * direct_products) return false;
    // A plan transforms its filters once, so the tiles need not amortise that: 16 tiles suffice
    // (resnet_3x3_14 as a plan: 1.3-1.4x faster than igemm's).
    const int64_t tiles = p.batch * winograd::tiles_per_image(p, 4);
    const bool fused = winograd::fuses_filter_transform<float>(p, m);
    // A transposed layer whose few tiles leave its call to the filters (fused transform) stays on
    // igemm: dcgan_up_16 (16 tiles of a 16x16 input) ran 10% faster at 1 thread in minima, medians
    // tied, and at 2 threads 1.6x slower in medians (four parallel phases in half a millisecond).
    if (transposed && fused) return false;
    if (prepacked) return tiles >= 16;
    if (fused) return tiles >= 4;
    return tiles >= std::max<int64_t>(16, Cg * Kg / 512);
}

// Which family "auto" asks for; the registry order then picks the implementation. Measured on the
// shared layer suite (docs/benchmarks.md), float32:
// - the indirect-GEMM direct kernel (igemm) wins on dense and transposed layers in either layout;
// - on channels-first memory a stride-1 1x1 layer is a plain GEMM on x as it lies (gemm_1x1),
//   cheaper than igemm's transposes in and out; a strided one goes to igemm, which gathers only the
//   pixels it reads (resnet_1x1_s2, Zen 5, alternated processes: 12% faster than the im2col GEMM
//   at 1 thread, 14-20% at 2, whose 196 columns left its last 32-wide tile 7/8 padding); on
//   channels-last memory igemm's 6x64 tile beats the general GEMM (gemm_1x1_nhwc) by ~15%;
// - a transposed layer with a tiny input (DCGAN's 4x4) is all weights: GEMM + col2im reads them
//   once in place, where igemm would first repack them for a few dozen pixels; a prepacked plan
//   has paid for that packing already, so there igemm wins (dcgan_up_4x4: 1.3 against 2.9 ms);
// - on a dense layer with fewer than 8 input channels igemm's per-tap pointer setup outweighs its
//   few FMAs, unless it can merge the kernel row into the reduction (no dilation along the width:
//   the RGB stem), so otherwise im2col's long GEMM rows win; groups that thin stay in the direct
//   family (padded_chw on channels-first memory, igemm's group-bundle or thin tiles on
//   channels-last, except on AVX2 where thin tiles no bundle takes give way to padded_chw behind
//   copies: thin_groups_prefer_channels_first), 1.1-5x faster than im2col on groups of 2-6 input
//   channels (ResNeXt's 4 -> 4: 0.27-0.38 against 1.3-1.4 ms, Zen 5, 1 thread);
// - depthwise and thin groups go to the direct family's specialised kernels, and so does the RGB
//   stem on channels-first memory (padded_chw: no transposes of its 3.2 MB output; Zen 3, 1 thread:
//   3.1 against igemm's 3.3-3.4 ms, minima of alternated processes);
// - in functional calls, images of at most 64 output pixels with at least 64 output channels per
//   group go to small_image_gemm, which reads the weights in place instead of packing them
//   (resnet_3x3_7 on Zen 3, before Winograd took it: 3.7 against igemm's 4.4 ms); a plan has
//   packed them already, and igemm's 6x16 tile wastes no lanes on 49 pixels where
//   small_image_gemm's 16-pixel slivers waste 15 of 64 (3.3 against 3.7 ms).
// float64 has no igemm kernel: GEMM once the product fills microkernel tiles, else direct loops.
// These hold for AVX2's narrow 6x16 igemm tile too (Zen 3, 1 and 2 threads): igemm ties or beats
// gemm_1x1_nhwc on channels-last 1x1 layers (resnet_1x1_s2: 0.9 against 1.2 ms) and GEMM +
// col2im on channels-first transposed ones (unet_up_2x2: 2.1 against 2.5 ms at 2 threads).
Algo auto_family(const ConvProblem& p, bool prepacked) {
    const int64_t reduction = p.kind == ConvKind::forward ? p.gemm_k() : p.out_channels_per_group();
    const int64_t rows = p.kind == ConvKind::forward ? p.out_channels_per_group() : p.gemm_k();
    if (reduction < 16 || rows < 4) return Algo::direct;
    if (winograd_wins(p, prepacked)) return Algo::winograd;
    if (p.dtype == DType::f64) return Algo::im2col;
    const bool channels_first = p.layout == Layout::channels_first;
    if (p.kind == ConvKind::forward) {
        if (!prepacked && small_image_gemm_impl.declines(channels_first_view(p)).empty()) return Algo::im2col;
        if (p.kernel_spatial() == 1 && channels_first && !is_strided_pointwise(p)) return Algo::im2col;
        const bool row_merges = p.dilation[2] == 1 && p.kernel[2] > 1;
        if (p.groups == 1 && p.in_channels < 8 && !row_merges) return Algo::im2col;
    } else if (p.batch * p.out_spatial() < 64 && !prepacked) {
        return Algo::im2col;
    }
    return Algo::direct;
}

// On AVX2, a channels-last layer whose groups are thinner than a ymm and that no group-bundle
// kernel takes (groups of 3, 5, 6, 7 channels out, or an odd count of 4-channel groups) runs
// faster on the channels-first kernels behind copies of x and y than on igemm's one-group 8x8
// tile, which wastes lanes and stores each row through a partial vector (ResNeXt-like 192 -> 192
// in 32 groups of 6 on 56x56, Zen 3, 1 thread, medians over noisy runs: igemm 6.7 ms with
// vmaskmovps stores, 3.9-4.1 with the stack copy; padded_chw behind the copies 2.3-4.1 ms, the
// copies half of it).
// AVX-512's masked stores are cheap; its thin tiles stay. It holds for algo="direct" as for
// "auto", so a plan and the functional call of its family run the same kernel (bitwise the same
// result; hypothesis found a plan on padded_chw and algo="direct" on igemm 1 ulp apart).
bool thin_groups_prefer_channels_first(const ConvProblem& p) {
    if (p.kind != ConvKind::forward || p.groups == 1 || p.out_channels_per_group() >= 8) return false;
    return p.dtype == DType::f32 && igemm::active_ukernel().isa == Isa::avx2 && !igemm::group_bundle_ukernel(p);
}

}  // namespace

// 3-D: KD depth taps sum KD Winograd products, a reduction as long as KD Cg channels'.
bool winograd_accurate_for_auto(DType dtype, int64_t depth_taps, int64_t in_channels_per_group) {
    return dtype == DType::f32 && depth_taps * in_channels_per_group <= 512;
}

const std::vector<ConvImpl>& conv_registry() {
    static const std::vector<ConvImpl> registry{
        gemm_1x1_impl,     gemm_1x1_nhwc_impl, small_image_gemm_impl, im2col_gemm_impl,       gemm_col2im_impl,
        depthwise_impl,    padded_chw_impl,    direct_chw_impl,       winograd_4x4_impl,      winograd_2x2_impl,
        winograd_sub_pixel_impl, igemm_impl, direct_forward_impl, direct_transposed_impl, reference_impl,
    };
    return registry;
}

Selection select(const ConvProblem& problem, Algo algo, bool prepacked) {
    const Algo family = algo == Algo::automatic ? auto_family(problem, prepacked) : algo;
    if (problem.layout == Layout::channels_last) {
        for (const ConvImpl& impl : conv_registry()) {
            if (impl.algo != family || !impl.declines(problem).empty()) continue;
            if (impl.run == igemm_impl.run && thin_groups_prefer_channels_first(problem)) break;
            return {&impl, false};
        }
        return {&select_impl(channels_first_view(problem), algo, prepacked), true};
    }
    return {&select_impl(problem, algo, prepacked), false};
}

const ConvImpl& select_impl(const ConvProblem& problem, Algo algo, bool prepacked) {
    const Algo family = algo == Algo::automatic ? auto_family(problem, prepacked) : algo;
    for (const ConvImpl& impl : conv_registry())
        if (impl.algo == family && impl.declines(problem).empty()) return impl;
    std::string reasons;
    for (const ConvImpl& impl : conv_registry())
        if (impl.algo == family) reasons += std::string("; ") + impl.name + ": " + impl.declines(problem);
    throw InvalidArgument(std::string("no implementation of algo '") + algo_name(family) + "' accepts " +
                          problem.describe() + reasons);
}

}  // namespace fastconv
