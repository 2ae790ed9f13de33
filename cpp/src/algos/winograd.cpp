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
//
// winograd_sub_pixel runs a 2-D transposed convolution whose output pixels each read at most 3 x 3
// input pixels (DCGAN's 4x4 kernels at stride 2) as one forward 3x3 stride-1 convolution of its
// input (Shi et al.'s sub-pixel convolution, "Real-Time Single Image and Video Super-Resolution"):
// output pixel stride * j + r reads input pixels j + delta, delta in a window of 3 per dimension,
// so the stride^2 residue classes r become stride^2 blocks of output channels of one forward
// problem, whose filters hold each class's taps (zeros where a class has no tap), and the output
// transform writes each block to its class's pixels. F(4x4, 3x3) then does 36 products per 16
// pixels and class where direct summation of a 4x4 kernel at stride 2 does 4 taps x 16: 1.8x fewer,
// and every class shares one input transform.
#include <algorithm>
#include <memory>
#include <vector>

#include "fastconv/index_map.hpp"
#include "layout.hpp"
#include "registry.hpp"
#include "runtime/thread_pool.hpp"
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

// With `scatter` (sub-pixel problems, channels-last only), y is laid out as it says, and the
// weights come tap-major (sub_pixel_weights): the layout of the weights a call with `scatter` passes.
winograd::FilterLayout filter_layout(const winograd::SubPixelOutput* scatter) {
    return scatter ? winograd::FilterLayout::tap_major : winograd::FilterLayout::forward;
}

template <typename T>
void run_typed(const winograd::Ukernel<T>& ukernel, const ConvProblem& p, const ConvArgs& args, const T* u,
               const winograd::SubPixelOutput* scatter = nullptr) {
    const T* x = static_cast<const T*>(args.src);
    const T* bias = static_cast<const T*>(args.bias);
    T* y = static_cast<T*>(args.dst);
    if (p.layout == Layout::channels_last) winograd::run_channels_last(ukernel, p, u, x, bias, y, scatter);
    else winograd::run_channels_first(ukernel, p, u, x, bias, y);
}

// A functional call whose transformed filters outweigh its activations transforms them chunk by
// chunk inside the GEMM tasks (winograd::run_fused_filter: resnet_3x3_14 at batch 1 runs 1.5x
// faster than through a whole U). Otherwise it transforms them into scratch reused across calls
// (4x the weights for F(4x4), 16/9 for F(2x2): fresh pages every call would cost more than the
// transform).
template <typename T>
void run_with_scratch_filter(const winograd::Ukernel<T>& ukernel, const ConvProblem& p, const ConvArgs& args,
                             const winograd::SubPixelOutput* scatter = nullptr) {
    const winograd::FilterLayout layout = filter_layout(scatter);
    if (winograd::fuses_filter_transform<T>(p, ukernel.m)) {
        winograd::run_fused_filter(ukernel, p, static_cast<const T*>(args.weight), static_cast<const T*>(args.src),
                                   static_cast<const T*>(args.bias), static_cast<T*>(args.dst), scatter, layout);
        return;
    }
    T* u = scratch<T>(ScratchSlot::packed_weights, winograd::filter_elements<T>(p, ukernel.m));
    winograd::transform_filter(ukernel, p, static_cast<const T*>(args.weight), u, layout);
    run_typed(ukernel, p, args, u, scatter);
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
std::shared_ptr<const void> pack_typed(const winograd::Ukernel<T>& ukernel, const ConvProblem& p, const void* weight,
                                       winograd::FilterLayout layout = winograd::FilterLayout::forward) {
    auto packed = std::make_shared<PackedFilters<T>>();
    packed->fused = winograd::fuses_filter_transform<T>(p, ukernel.m);
    const T* w = static_cast<const T*>(weight);
    if (packed->fused) {
        packed->values.assign(w, w + p.weight_elements());
    } else {
        packed->values.resize(static_cast<size_t>(winograd::filter_elements<T>(p, ukernel.m)));
        winograd::transform_filter(ukernel, p, w, packed->values.data(), layout);
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
                      const void* packed, const winograd::SubPixelOutput* scatter = nullptr) {
    const auto& filters = *static_cast<const PackedFilters<T>*>(packed);
    if (filters.fused) {
        winograd::run_fused_filter(ukernel, p, filters.values.data(), static_cast<const T*>(args.src),
                                   static_cast<const T*>(args.bias), static_cast<T*>(args.dst), scatter,
                                   filter_layout(scatter));
        return;
    }
    run_typed(ukernel, p, args, filters.values.data(), scatter);
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

// The input offsets delta (first, first + 1, ...) that output pixels of a transposed problem read
// along spatial dimension d: pixel stride * j + r reads input j + delta through tap k exactly when
// r + pad - k = stride * delta (dilation 1), and as r runs over [0, stride) and k over [0, kernel),
// r + pad - k takes every value in [pad - kernel + 1, pad + stride - 1].
struct Window {
    int64_t first, width;
};
Window sub_pixel_window(const ConvProblem& p, int d) {
    const int64_t first = ceil_div(p.pad_before[d] - p.kernel[d] + 1, p.stride[d]);
    return {first, floor_div(p.pad_before[d] + p.stride[d] - 1, p.stride[d]) - first + 1};
}

constexpr int64_t kMaxSubPixelClasses = 16;

std::string declines_sub_pixel(const ConvProblem& p) {
    if (p.kind != ConvKind::transposed) return "handles transposed convolutions only";
    if (p.ndim != 2) return "2-D transposed convolutions only";
    if (p.groups != 1) return "groups = 1 only";
    if (p.dilation[1] != 1 || p.dilation[2] != 1) return "needs dilation 1";
    // Each factor bounded first: strides near 2^32 would overflow the product.
    if (p.stride[1] > kMaxSubPixelClasses || p.stride[2] > kMaxSubPixelClasses ||
        p.stride[1] * p.stride[2] > kMaxSubPixelClasses)
        return "at most 16 sub-pixel classes (stride_h * stride_w)";
    if (sub_pixel_window(p, 1).width > 3 || sub_pixel_window(p, 2).width > 3)
        return "each output pixel may read at most 3 x 3 input pixels (a kernel up to about 3 strides wide)";
    return {};
}

winograd::SubPixelOutput sub_pixel_scatter(const ConvProblem& p) {
    return {p.stride[1], p.stride[2], p.in_channels, p.in_size[1], p.in_size[2]};
}

// The sub-pixel form's filters, tap-major (winograd::FilterLayout): row (k, t) holds, for every
// class b = ry * stride_w + rx and channel c, w[k][c][kh][kw] with kh = ry + pad - stride * (first +
// t / 3) (kw likewise, t % 3) where that is a tap, else 0: class b's taps at the window offsets they
// read. One task per input channel k transposes its filters to tap by channel, so each row is
// copies of whole channel runs. (Element by element into the forward weight's layout, building it
// took a sixth of dcgan_up_16's call and the transform's transpose another 5%.)
template <typename T>
void sub_pixel_weights(const ConvProblem& p, const T* w, T* out) {
    const Window wh = sub_pixel_window(p, 1), ww = sub_pixel_window(p, 2);
    const int64_t C = p.in_channels, K = p.out_channels, taps = p.kernel[1] * p.kernel[2];
    const int64_t sh = p.stride[1], sw = p.stride[2], classes = sh * sw;
    parallel_for(K, [&](int64_t k) {
        T* by_tap = scratch<T>(ScratchSlot::pack_tile, taps * C);
        transpose_panel(w + k * C * taps, taps, by_tap, C, C, taps);
        for (int64_t t = 0; t < 9; ++t)
            for (int64_t b = 0; b < classes; ++b) {
                const int64_t kh = b / sw + p.pad_before[1] - sh * (wh.first + t / 3);
                const int64_t kw = b % sw + p.pad_before[2] - sw * (ww.first + t % 3);
                T* row = out + (k * 9 + t) * classes * C + b * C;
                if (kh >= 0 && kh < p.kernel[1] && kw >= 0 && kw < p.kernel[2])
                    std::copy_n(by_tap + (kh * p.kernel[2] + kw) * C, C, row);
                else
                    std::fill_n(row, C, T(0));
            }
    });
}

// F(2x2, 3x3) where it needs hardly more products, as for forward problems.
int sub_pixel_tile(const ConvProblem& forward) { return winograd::prefers_2x2(forward) ? 2 : 4; }

// Runs run_last(src, dst) on p's channels-last memory, or on channels-last copies of its
// channels-first src and dst (the sub-pixel output transform writes channels-last pixels).
template <typename T, typename Run>
void on_channels_last(const ConvProblem& p, const ConvArgs& args, Run&& run_last) {
    const T* src = static_cast<const T*>(args.src);
    T* dst = static_cast<T*>(args.dst);
    if (p.layout == Layout::channels_last) run_last(src, dst);
    else through_transposed_copies(src, dst, p.batch, p.out_channels, p.out_spatial(), p.in_spatial(), p.in_channels,
                                   run_last);
}

template <typename T>
void run_sub_pixel_typed(const ConvProblem& p, const ConvArgs& args) {
    const ConvProblem forward = winograd_sub_pixel_problem(p);
    const winograd::SubPixelOutput scatter = sub_pixel_scatter(p);
    T* w = scratch<T>(ScratchSlot::gemm_b, forward.weight_elements());
    sub_pixel_weights(p, static_cast<const T*>(args.weight), w);
    const auto& ukernel = winograd::active_ukernel<T>(sub_pixel_tile(forward));
    const auto run_last = [&](const T* src, T* dst) {
        run_with_scratch_filter(ukernel, forward, {src, w, args.bias, dst}, &scatter);
    };
    on_channels_last<T>(p, args, run_last);
}

void run_sub_pixel(const ConvProblem& p, const ConvArgs& args) {
    if (p.dtype == DType::f32) run_sub_pixel_typed<float>(p, args);
    else run_sub_pixel_typed<double>(p, args);
}

template <typename T>
std::shared_ptr<const void> pack_sub_pixel_typed(const ConvProblem& p, const void* weight) {
    const ConvProblem forward = winograd_sub_pixel_problem(p);
    std::vector<T> w(static_cast<size_t>(forward.weight_elements()));
    sub_pixel_weights(p, static_cast<const T*>(weight), w.data());
    return pack_typed(winograd::active_ukernel<T>(sub_pixel_tile(forward)), forward, w.data(),
                      winograd::FilterLayout::tap_major);
}

std::shared_ptr<const void> pack_sub_pixel(const ConvProblem& p, const void* weight) {
    if (p.dtype == DType::f32) return pack_sub_pixel_typed<float>(p, weight);
    return pack_sub_pixel_typed<double>(p, weight);
}

template <typename T>
void run_packed_sub_pixel_typed(const ConvProblem& p, const ConvArgs& args, const void* packed) {
    const ConvProblem forward = winograd_sub_pixel_problem(p);
    const winograd::SubPixelOutput scatter = sub_pixel_scatter(p);
    const auto& ukernel = winograd::active_ukernel<T>(sub_pixel_tile(forward));
    const auto run_last = [&](const T* src, T* dst) {
        run_packed_typed(ukernel, forward, {src, args.weight, args.bias, dst}, packed, &scatter);
    };
    on_channels_last<T>(p, args, run_last);
}

void run_packed_sub_pixel(const ConvProblem& p, const ConvArgs& args, const void* packed) {
    if (p.dtype == DType::f32) run_packed_sub_pixel_typed<float>(p, args, packed);
    else run_packed_sub_pixel_typed<double>(p, args, packed);
}

}  // namespace

ConvProblem winograd_sub_pixel_problem(const ConvProblem& p) {
    ConvProblem f;
    f.kind = ConvKind::forward;
    f.dtype = p.dtype;
    f.ndim = 2;
    f.layout = Layout::channels_last;
    f.batch = p.batch;
    f.in_channels = p.out_channels;
    f.out_channels = p.stride[1] * p.stride[2] * p.in_channels;
    f.in_size = {1, p.out_size[1], p.out_size[2]};
    f.kernel = {1, 3, 3};
    for (int d = 1; d < kMaxSpatialDims; ++d) {
        f.out_size[d] = ceil_div(p.in_size[d], p.stride[d]);
        f.pad_before[d] = -sub_pixel_window(p, d).first;
        f.pad_after[d] = f.out_size[d] + 2 - f.in_size[d] - f.pad_before[d];
    }
    return f;
}

const ConvImpl winograd_4x4_impl{"winograd_4x4_3x3", Algo::winograd, declines_f4, run<4>, pack<4>, run_packed<4>};
const ConvImpl winograd_2x2_impl{"winograd_2x2_3x3", Algo::winograd, declines_f2, run<2>, pack<2>, run_packed<2>};
const ConvImpl winograd_sub_pixel_impl{"winograd_sub_pixel", Algo::winograd, declines_sub_pixel, run_sub_pixel,
                                       pack_sub_pixel, run_packed_sub_pixel};

namespace winograd {
template <typename T>
void run_with(const Ukernel<T>& ukernel, const ConvProblem& p, const ConvArgs& args) {
    run_with_scratch_filter(ukernel, p, args);
}
template void run_with<float>(const Ukernel<float>&, const ConvProblem&, const ConvArgs&);
template void run_with<double>(const Ukernel<double>&, const ConvProblem&, const ConvArgs&);
}  // namespace winograd

}  // namespace fastconv
