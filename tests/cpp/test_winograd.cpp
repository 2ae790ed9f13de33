// Winograd F(4x4, 3x3) and F(2x2, 3x3) against the float64 reference, with every compiled
// tile-transform kernel the CPU can run (both tile sizes, so F(2x2) is covered on shapes where the
// registry would pick F(4x4)), both layouts, float32 and float64.
//
// The bound is per element, relative to the largest sum |w| |x| (plus |bias|) over the element's
// output tile: the transforms mix the whole tile, so an element whose own taps are small (next to
// padding, or a lucky draw) carries the rounding errors of its tile's large values, and a bound
// on its own scale fails at random (Python's hypothesis found one at 1.6e-5 with one channel).
// The measured worst cases on these shapes are 1.4e-7 of it for F(2x2) and 1.1e-6 for F(4x4) in
// float32, 3.9e-16 and 1.9e-15 in float64, on every ISA (docs/winograd.md). 4e-6 and 1e-14 fail on
// any wrong tap, sign, tile offset or channel tail (errors of order 1), and in float64 on one
// output-transform coefficient off by 2.4e-7 relative (tried). The output is poisoned with NaN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "registry.hpp"
#include "winograd/winograd.hpp"

namespace fastconv {
namespace {

struct Shape {
    const char* name;
    std::vector<int64_t> x, w;  // (N, C, H, W), (K, C/groups, 3, 3)
    std::vector<int64_t> pad_before, pad_after;
    int64_t groups;
    std::vector<int64_t> dilation = {1, 1};
};

const std::vector<Shape>& shapes() {
    static const std::vector<Shape> table{
        {"tiny_valid", {1, 1, 3, 3}, {1, 1, 3, 3}, {0, 0}, {0, 0}, 1},
        {"tails_pad1", {1, 3, 7, 9}, {5, 3, 3, 3}, {1, 1}, {1, 1}, 1},
        {"pad0_odd", {3, 5, 11, 6}, {7, 5, 3, 3}, {0, 0}, {0, 0}, 1},
        {"pad2", {1, 4, 5, 5}, {3, 4, 3, 3}, {2, 2}, {2, 2}, 1},
        {"asymmetric_pad", {2, 3, 6, 10}, {4, 3, 3, 3}, {2, 0}, {0, 1}, 1},
        {"batch0", {0, 3, 8, 8}, {4, 3, 3, 3}, {1, 1}, {1, 1}, 1},
        {"odd_channels", {1, 17, 9, 13}, {33, 17, 3, 3}, {1, 1}, {1, 1}, 1},
        {"grouped", {2, 6, 9, 8}, {9, 2, 3, 3}, {1, 1}, {1, 1}, 3},
        // Output channels per group spanning several GEMM column slivers, the last one partial.
        {"grouped_wide", {1, 8, 6, 7}, {74, 4, 3, 3}, {1, 1}, {1, 1}, 2},
        // More than kc = 256 input channels: the GEMM depth is blocked and accumulated.
        {"deep", {1, 300, 5, 6}, {19, 300, 3, 3}, {1, 1}, {1, 1}, 1},
        // Few tiles and wide filters: a functional call transforms them inside the GEMM tasks
        // (winograd::run_fused_filter), here per group and per partial column sliver.
        {"grouped_deep", {1, 64, 6, 7}, {74, 32, 3, 3}, {1, 1}, {1, 1}, 2},
        // Dilation: dh x dw phases tiled separately, phases of unequal size (13 rows at dilation 2:
        // 7 and 6, 11 columns at 3: 4, 4 and 3), asymmetric padding.
        {"dilated", {2, 5, 13, 11}, {6, 5, 3, 3}, {2, 1}, {1, 3}, 1, {2, 3}},
        // Deep enough to fuse the filter transform with either ISA's GEMM tile (AVX-512's 14 rows
        // pad its 16 F(2x2) tiles to 28; 48 channels per group fused on AVX2 only).
        {"dilated_grouped_deep", {1, 128, 5, 6}, {74, 64, 3, 3}, {2, 2}, {2, 2}, 2, {2, 2}},
        // 3-D: (KD, 3, 3) kernels as KD depth taps of 3x3 Winograd swept over the output depth
        // (run_depth_sweep): depth padding, asymmetric padding, dilation in every dimension,
        // groups, wide filters on few tiles (never fused in 3-D), two 256-channel depth blocks, a
        // depth dilation too large for the slice ring, output depths that read only padding.
        {"conv3d", {2, 6, 4, 7, 9}, {5, 6, 3, 3, 3}, {1, 1, 1}, {1, 0, 1}, 1, {1, 1, 1}},
        {"conv3d_dilated_grouped", {1, 8, 5, 6, 7}, {6, 4, 2, 3, 3}, {2, 1, 2}, {0, 1, 2}, 2, {2, 1, 2}},
        {"conv3d_few_tiles", {1, 40, 2, 3, 4}, {24, 40, 3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1, {1, 1, 1}},
        {"conv3d_deep", {1, 260, 2, 3, 3}, {24, 260, 2, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1, {1, 1, 1}},
        {"conv3d_depth_dilated", {1, 4, 12, 5, 6}, {5, 4, 2, 3, 3}, {2, 1, 1}, {2, 1, 1}, 1, {9, 1, 1}},
        {"conv3d_padding_slices", {1, 3, 2, 4, 5}, {4, 3, 2, 3, 3}, {3, 1, 1}, {3, 1, 1}, 1, {1, 1, 1}},
        // Slices of many tiles: several tasks per slice, the last range and sliver partial.
        {"conv3d_wide_slices", {1, 4, 3, 29, 37}, {6, 4, 3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1, {1, 1, 1}},
        // Several blocks of tiles (several tasks), the last block partial.
        {"many_tiles", {3, 8, 30, 34}, {16, 8, 3, 3}, {1, 1}, {1, 1}, 1},
    };
    return table;
}

ConvProblem build(const Shape& s, DType dtype) {
    ConvParams params;
    params.stride = std::vector<int64_t>(s.x.size() - 2, 1);
    params.dilation = s.dilation;
    params.pad_before = s.pad_before;
    params.pad_after = s.pad_after;
    params.groups = s.groups;
    return make_conv_problem(dtype, s.x, s.w, params);
}

std::vector<double> uniform(int64_t count, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    std::vector<double> values(static_cast<size_t>(count));
    for (double& v : values) v = dist(rng);
    return values;
}

// (N, A, B) -> (N, B, A).
template <typename T>
std::vector<T> swap_inner(const std::vector<T>& values, int64_t batch, int64_t a, int64_t b) {
    std::vector<T> out(values.size());
    for (int64_t n = 0; n < batch; ++n)
        for (int64_t i = 0; i < a; ++i)
            for (int64_t j = 0; j < b; ++j) out[(n * b + j) * a + i] = values[(n * a + i) * b + j];
    return out;
}

template <typename T, typename U>
std::vector<T> cast(const std::vector<U>& values) {
    return std::vector<T>(values.begin(), values.end());
}

std::vector<double> absolute(std::vector<double> values) {
    for (double& v : values) v = std::abs(v);
    return values;
}

// The float64 reference on the values as rounded to T, and the error scale sum |w| |x| + |bias|.
struct Expected {
    std::vector<double> y, scale;
};

// src is what the op reads: x for a forward problem, y for a transposed one.
template <typename T>
Expected expected_for(const ConvProblem& p, const std::vector<double>& src, const std::vector<double>& w,
                      const std::vector<double>& b) {
    ConvProblem q = p;
    q.dtype = DType::f64;
    q.layout = Layout::channels_first;
    const auto xr = cast<double>(cast<T>(src)), wr = cast<double>(cast<T>(w)), br = cast<double>(cast<T>(b));
    Expected e{std::vector<double>(p.dst_elements()), std::vector<double>(p.dst_elements())};
    if (p.dst_elements() == 0) return e;
    reference_impl.run(q, {xr.data(), wr.data(), br.data(), e.y.data()});
    const auto xa = absolute(xr), wa = absolute(wr), ba = absolute(br);
    reference_impl.run(q, {xa.data(), wa.data(), ba.data(), e.scale.data()});
    return e;
}

// Runs `run` in `layout` on channels-first x, returns channels-first y.
template <typename T, typename Run>
std::vector<T> run_in_layout(ConvProblem p, Layout layout, const std::vector<T>& x, Run&& run) {
    p.layout = layout;
    const bool last = layout == Layout::channels_last;
    const std::vector<T> in = last ? swap_inner(x, p.batch, p.in_channels, p.in_spatial()) : x;
    std::vector<T> out(p.y_elements(), std::numeric_limits<T>::quiet_NaN());
    if (p.y_elements() > 0) run(p, in.data(), out.data());
    return last ? swap_inner(out, p.batch, p.out_spatial(), p.out_channels) : out;
}

template <typename T>
double tolerance() {
    return std::is_same<T, float>::value ? 4e-6 : 1e-14;
}

// Each element's error scale replaced by the largest over its m x m output tile: tiles start at
// output row and column 0 of each dilation phase (the outputs congruent modulo the dilation) and
// step through the phase's rows and columns, in each output plane (each depth of a 3-D output).
std::vector<double> tile_scale(const ConvProblem& p, const std::vector<double>& scale, int m) {
    const int64_t OH = p.out_size[1], OW = p.out_size[2], dh = p.dilation[1], dw = p.dilation[2];
    std::vector<double> out(scale.size());
    for (int64_t plane = 0; plane < p.batch * p.out_channels * p.out_size[0]; ++plane)
        for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
                double largest = 0;
                for (int64_t i = oh / dh / m * m; i < oh / dh / m * m + m && oh % dh + dh * i < OH; ++i)
                    for (int64_t j = ow / dw / m * m; j < ow / dw / m * m + m && ow % dw + dw * j < OW; ++j)
                        largest = std::max(largest, scale[(plane * OH + oh % dh + dh * i) * OW + ow % dw + dw * j]);
                out[(plane * OH + oh) * OW + ow] = largest;
            }
    return out;
}

template <typename T>
double worst_error(const std::vector<T>& actual, const Expected& e, const ConvProblem& p, int m) {
    const std::vector<double> scale = tile_scale(p, e.scale, m);
    double worst = 0;
    for (size_t i = 0; i < actual.size(); ++i)
        worst = std::max(worst, std::abs(static_cast<double>(actual[i]) - e.y[i]) / (scale[i] + 1e-300));
    return worst;
}

template <typename T>
void expect_within(const std::vector<T>& actual, const Expected& e, const ConvProblem& p, int m,
                   const std::string& what) {
    const std::vector<double> scale = tile_scale(p, e.scale, m);
    for (size_t i = 0; i < actual.size(); ++i)
        ASSERT_LE(std::abs(static_cast<double>(actual[i]) - e.y[i]), tolerance<T>() * scale[i] + 1e-30)
            << what << " element " << i << " got " << actual[i] << " expected " << e.y[i];
}

template <typename T>
void check_every_kernel(DType dtype) {
    for (const winograd::Ukernel<T>& ukernel : winograd::ukernels<T>()) {
        if (ukernel.isa > detected_isa()) continue;
        for (const Shape& shape : shapes()) {
            const ConvProblem p = build(shape, dtype);
            const auto x = uniform(p.x_elements(), 1), w = uniform(p.weight_elements(), 2);
            const auto b = uniform(p.out_channels, 3);
            const Expected e = expected_for<T>(p, x, w, b);
            const auto xt = cast<T>(x), wt = cast<T>(w), bt = cast<T>(b);
            for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
                const auto y = run_in_layout<T>(p, layout, xt, [&](const ConvProblem& q, const T* src, T* dst) {
                    winograd::run_with(ukernel, q, {src, wt.data(), bt.data(), dst});
                });
                const std::string what = std::string(ukernel.name) + " " + shape.name + " " + layout_name(layout);
                expect_within(y, e, p, ukernel.m, what);
            }
        }
    }
}

TEST(Winograd, EveryKernelMatchesFloat64ReferenceF32) { check_every_kernel<float>(DType::f32); }
TEST(Winograd, EveryKernelMatchesFloat64ReferenceF64) { check_every_kernel<double>(DType::f64); }

// The tolerance is tight enough to see small systematic errors: one filter tap off by 1e-3 (a
// relative error of about 1e-4 in the outputs that read it) must fail it.
TEST(Winograd, ToleranceCatchesSmallErrors) {
    const ConvProblem p = build(shapes()[1], DType::f32);
    const auto x = uniform(p.x_elements(), 1), w = uniform(p.weight_elements(), 2), b = uniform(p.out_channels, 3);
    const Expected e = expected_for<float>(p, x, w, b);
    auto w_off = w;
    w_off[4] += 1e-3;
    const auto xt = cast<float>(x), wt = cast<float>(w_off), bt = cast<float>(b);
    std::vector<float> y(p.y_elements());
    winograd_4x4_impl.run(p, {xt.data(), wt.data(), bt.data(), y.data()});
    EXPECT_GT(worst_error(y, e, p, 4), tolerance<float>());
}

TEST(Winograd, RegistryEntriesAndPlansMatch) {
    for (const Shape& shape : shapes()) {
        const ConvProblem p = build(shape, DType::f32);
        const auto x = cast<float>(uniform(p.x_elements(), 4)), w = cast<float>(uniform(p.weight_elements(), 5));
        const auto b = cast<float>(uniform(p.out_channels, 6));
        const ConvImpl& impl = select_impl(p, Algo::winograd);
        for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
            const auto direct = run_in_layout<float>(p, layout, x, [&](const ConvProblem& q, const float* s, float* d) {
                impl.run(q, {s, w.data(), b.data(), d});
            });
            const auto planned =
                run_in_layout<float>(p, layout, x, [&](const ConvProblem& q, const float* s, float* d) {
                    ConvPlan plan(q, Algo::winograd, w.data());
                    EXPECT_NE(plan.impl_name().find("winograd"), std::string::npos);
                    plan.run(s, b.data(), d);
                });
            // memcmp of an empty vector's data() would pass a null pointer (batch-0 shapes).
            ASSERT_EQ(direct.size(), planned.size()) << shape.name;
            if (!direct.empty())
                ASSERT_EQ(0, std::memcmp(direct.data(), planned.data(), direct.size() * sizeof(float))) << shape.name;
        }
    }
}

// The fused filter transform (run_fused_filter) against transform_filter and the whole-U tile
// loops, bit for bit, for every compiled transform kernel, both layouts, float32 and float64, on
// every shape where a call would fuse; among them several groups and a depth over one GEMM depth
// block (256 channels, two chunks) for every ISA's tiles (checked below).
template <typename T>
void check_fused_is_whole(DType dtype) {
    for (const winograd::Ukernel<T>& ukernel : winograd::ukernels<T>()) {
        if (ukernel.isa > detected_isa()) continue;
        for (const Shape& shape : shapes()) {
            const ConvProblem p = build(shape, dtype);
            if (!winograd::fuses_filter_transform<T>(p, ukernel.m)) continue;
            const auto x = cast<T>(uniform(p.x_elements(), 10)), w = cast<T>(uniform(p.weight_elements(), 11));
            const auto b = cast<T>(uniform(p.out_channels, 12));
            std::vector<T> u(static_cast<size_t>(winograd::filter_elements<T>(p, ukernel.m)));
            winograd::transform_filter(ukernel, p, w.data(), u.data());
            for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
                const auto whole = run_in_layout<T>(p, layout, x, [&](const ConvProblem& q, const T* s, T* d) {
                    if (layout == Layout::channels_last) winograd::run_channels_last(ukernel, q, u.data(), s, b.data(), d);
                    else winograd::run_channels_first(ukernel, q, u.data(), s, b.data(), d);
                });
                const auto fused = run_in_layout<T>(p, layout, x, [&](const ConvProblem& q, const T* s, T* d) {
                    winograd::run_fused_filter(ukernel, q, w.data(), s, b.data(), d);
                });
                ASSERT_EQ(whole.size(), fused.size());
                if (!whole.empty())  // memcmp of an empty vector's data() would pass a null pointer (batch 0)
                    ASSERT_EQ(0, std::memcmp(whole.data(), fused.data(), whole.size() * sizeof(T)))
                        << ukernel.name << " " << shape.name << " " << layout_name(layout);
            }
        }
    }
}

TEST(Winograd, FusedFilterTransformIsBitwiseTheWholeU) {
    check_fused_is_whole<float>(DType::f32);
    check_fused_is_whole<double>(DType::f64);
}

TEST(Winograd, ShapesCoverTheFusedFilterTransform) {
    for (int m : {4, 2}) {
        std::vector<std::string> fused, whole;
        for (const Shape& shape : shapes())
            (winograd::fuses_filter_transform<float>(build(shape, DType::f32), m) ? fused : whole).push_back(shape.name);
        const auto has = [](const std::vector<std::string>& names, const char* name) {
            return std::find(names.begin(), names.end(), name) != names.end();
        };
        EXPECT_TRUE(has(fused, "deep") && has(fused, "grouped_deep") && has(fused, "dilated_grouped_deep")) << "F" << m;
        EXPECT_TRUE(has(whole, "many_tiles") && has(whole, "conv3d_few_tiles")) << "F" << m;
    }
}

// Bitwise identical for 1, 2 and 3 threads, on a problem with several blocks of tiles and on ones
// with so few tiles that more than one thread runs the phases over the pool instead (run_phased),
// in both layouts.
TEST(Winograd, DeterministicAcrossThreadCounts) {
    const int saved = get_num_threads();
    // many_tiles, odd_channels, deep, grouped_deep, dilated, conv3d, conv3d_deep, conv3d_depth_dilated,
    // conv3d_wide_slices
    for (const Shape& shape : {shapes().back(), shapes()[6], shapes()[9], shapes()[10], shapes()[11], shapes()[13],
                               shapes()[16], shapes()[17], shapes()[19]}) {
        for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
            ConvProblem p = build(shape, DType::f32);
            p.layout = layout;
            const auto x = cast<float>(uniform(p.x_elements(), 7)), w = cast<float>(uniform(p.weight_elements(), 8));
            const auto b = cast<float>(uniform(p.out_channels, 9));
            for (const ConvImpl* impl : {&winograd_4x4_impl, &winograd_2x2_impl}) {
                std::vector<float> first;
                for (int threads : {1, 2, 3, 1}) {
                    set_num_threads(threads);
                    std::vector<float> y(p.y_elements());
                    impl->run(p, {x.data(), w.data(), b.data(), y.data()});
                    if (first.empty()) first = y;
                    else
                        ASSERT_EQ(0, std::memcmp(first.data(), y.data(), y.size() * sizeof(float)))
                            << impl->name << " " << shape.name << " " << threads;
                }
            }
        }
    }
    set_num_threads(saved);
}

TEST(Winograd, DeclinesWithReasons) {
    ConvParams params;
    params.stride = {1, 1};
    params.dilation = {1, 1};
    params.pad_before = {1, 1};
    params.pad_after = {1, 1};
    const ConvProblem ok = make_conv_problem(DType::f32, {1, 4, 32, 32}, {4, 4, 3, 3}, params);
    EXPECT_EQ(winograd_4x4_impl.declines(ok), "");
    EXPECT_NE(winograd_2x2_impl.declines(ok), "");
    EXPECT_STREQ(select_impl(ok, Algo::winograd).name, "winograd_4x4_3x3");

    auto with = [&](auto change) {
        ConvParams q = params;
        std::vector<int64_t> x{1, 4, 32, 32}, w{4, 4, 3, 3};
        change(q, x, w);
        return make_conv_problem(DType::f32, x, w, q);
    };
    const ConvProblem strided = with([](ConvParams& q, auto&, auto&) { q.stride = {2, 1}; });
    const ConvProblem dilated = with([](ConvParams& q, auto&, auto&) { q.dilation = {1, 2}; });
    EXPECT_EQ(winograd_4x4_impl.declines(dilated), "");  // phase by phase (TileLoop)
    const ConvProblem five = with([](ConvParams&, auto&, auto& w) { w = {4, 4, 5, 5}; });
    EXPECT_NE(winograd_4x4_impl.declines(strided).find("stride"), std::string::npos);
    EXPECT_NE(winograd_4x4_impl.declines(five).find("3x3"), std::string::npos);
    ConvParams one_d;
    one_d.stride = {1};
    one_d.dilation = {1};
    one_d.pad_before = {1};
    one_d.pad_after = {1};
    EXPECT_NE(winograd_4x4_impl.declines(make_conv_problem(DType::f32, {1, 2, 9}, {2, 2, 3}, one_d)).find("2-D"),
              std::string::npos);
    ConvParams three_d;
    three_d.stride = {1, 1, 1};
    three_d.dilation = {1, 1, 1};
    three_d.pad_before = {1, 1, 1};
    three_d.pad_after = {1, 1, 1};
    EXPECT_EQ(winograd_4x4_impl.declines(make_conv_problem(DType::f32, {1, 2, 5, 32, 32}, {2, 2, 2, 3, 3}, three_d)), "");
    EXPECT_NE(winograd_4x4_impl.declines(make_conv_problem(DType::f32, {1, 2, 5, 9, 9}, {2, 2, 3, 3, 5}, three_d))
                  .find("3x3"),
              std::string::npos);
    three_d.stride = {2, 1, 1};
    EXPECT_NE(winograd_4x4_impl.declines(make_conv_problem(DType::f32, {1, 2, 5, 9, 9}, {2, 2, 3, 3, 3}, three_d))
                  .find("stride"),
              std::string::npos);
    const ConvProblem transposed = make_conv_transpose_problem(DType::f32, {1, 4, 6, 6}, {4, 4, 3, 3}, params);
    EXPECT_NE(winograd_4x4_impl.declines(transposed).find("forward"), std::string::npos);
    EXPECT_THROW(select_impl(strided, Algo::winograd), InvalidArgument);

    // A 2x2 output: a 4x4 tile would spend 36 products per channel pair on 4 outputs, a 2x2 tile 16.
    const ConvProblem small =
        make_conv_problem(DType::f32, {1, 4, 4, 4}, {4, 4, 3, 3}, ConvParams{{1, 1}, {1, 1}, {0, 0}, {0, 0}, {}, 1});
    EXPECT_NE(winograd_4x4_impl.declines(small).find("F(2x2"), std::string::npos);
    EXPECT_NE(winograd_2x2_impl.declines(ok).find("F(4x4"), std::string::npos);
    EXPECT_STREQ(select_impl(small, Algo::winograd).name, "winograd_2x2_3x3");
}

// Transposed problems on winograd_sub_pixel: x (N, C_in, H, W), torch's weight (C_in, C_out, KH,
// KW), stride, padding before and after, output padding.
struct TransposedShape {
    const char* name;
    std::vector<int64_t> x, w, stride, pad_before, pad_after, output_padding;
};

ConvProblem build_transposed(const TransposedShape& s, DType dtype) {
    ConvParams params;
    params.stride = s.stride;
    params.dilation = {1, 1};
    params.pad_before = s.pad_before;
    params.pad_after = s.pad_after;
    params.output_padding = s.output_padding;
    return make_conv_transpose_problem(dtype, s.x, s.w, params);
}

const std::vector<TransposedShape>& transposed_shapes() {
    static const std::vector<TransposedShape> table{
        // DCGAN's 4x4 at stride 2, odd channel counts, sizes that are no multiple of the tile.
        {"dcgan", {2, 5, 9, 10}, {5, 3, 4, 4}, {2, 2}, {1, 1}, {1, 1}, {0, 0}},
        // Strides 2 and 3, 5 and 7 taps, padding that differs before and after, output padding:
        // classes with 2 and 3 taps, windows starting one pixel left of the class's own.
        {"mixed_strides", {1, 6, 7, 5}, {6, 4, 5, 7}, {2, 3}, {2, 3}, {1, 2}, {1, 2}},
        // A window that starts at the class's own pixel (padding 0) and a kernel narrower than
        // the stride (some classes read nothing: the bias alone).
        {"unpadded_sparse", {1, 3, 4, 6}, {3, 5, 3, 1}, {2, 3}, {0, 0}, {0, 0}, {1, 0}},
        // Weights that outweigh the activations: the filter transform fused into the GEMM tasks.
        {"fused", {1, 40, 3, 3}, {40, 24, 4, 4}, {2, 2}, {1, 1}, {1, 1}, {0, 0}},
        {"batch0", {0, 4, 5, 5}, {4, 3, 4, 4}, {2, 2}, {1, 1}, {1, 1}, {0, 0}},
    };
    return table;
}

// Against the float64 reference (on the float32-rounded values), with the error scale of the
// transforms' tiles, which in the sub-pixel form cover m x m pixels of every class: 4e-6 of the
// largest sum |w| |x| over the image bounds them loosely (and fails any wrong tap or class offset).
// Then functional calls, prepacked plans and 1, 2 and 3 threads must agree bit for bit.
TEST(WinogradSubPixel, MatchesReferencePlansAndThreadCounts) {
    const int saved = get_num_threads();
    for (const TransposedShape& shape : transposed_shapes()) {
        const ConvProblem p = build_transposed(shape, DType::f32);
        ASSERT_EQ(winograd_sub_pixel_impl.declines(p), "") << shape.name;
        EXPECT_STREQ(select_impl(p, Algo::winograd).name, "winograd_sub_pixel");
        const auto y = cast<float>(uniform(p.y_elements(), 21)), w = cast<float>(uniform(p.weight_elements(), 22));
        const auto b = cast<float>(uniform(p.in_channels, 23));
        const Expected e = expected_for<float>(p, cast<double>(y), cast<double>(w), cast<double>(b));
        const std::vector<double>& expected = e.y;
        const double bound = 4e-6 * (e.scale.empty() ? 0.0 : *std::max_element(e.scale.begin(), e.scale.end()));
        for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
            ConvProblem r = p;
            r.layout = layout;
            const bool last = layout == Layout::channels_last;
            const auto src = last ? swap_inner(y, p.batch, p.out_channels, p.out_spatial()) : y;
            const auto run = [&](auto&& call) {
                std::vector<float> out(static_cast<size_t>(p.x_elements()), std::numeric_limits<float>::quiet_NaN());
                if (!out.empty()) call(out.data());
                return last ? swap_inner(out, p.batch, p.in_spatial(), p.in_channels) : out;
            };
            set_num_threads(1);
            const auto functional = run([&](float* d) { winograd_sub_pixel_impl.run(r, {src.data(), w.data(), b.data(), d}); });
            for (size_t i = 0; i < expected.size(); ++i)
                ASSERT_LE(std::abs(functional[i] - expected[i]), bound)
                    << shape.name << " " << layout_name(layout) << " element " << i;
            const auto planned = run([&](float* d) {
                ConvPlan plan(r, Algo::winograd, w.data());
                EXPECT_EQ(plan.impl_name(), "winograd_sub_pixel (prepacked)");
                plan.run(src.data(), b.data(), d);
            });
            if (!functional.empty())
                ASSERT_EQ(0, std::memcmp(functional.data(), planned.data(), functional.size() * sizeof(float)))
                    << shape.name << " " << layout_name(layout);
            for (int threads : {2, 3}) {
                set_num_threads(threads);
                const auto again = run([&](float* d) { winograd_sub_pixel_impl.run(r, {src.data(), w.data(), b.data(), d}); });
                if (!functional.empty())
                    ASSERT_EQ(0, std::memcmp(functional.data(), again.data(), functional.size() * sizeof(float)))
                        << shape.name << " " << layout_name(layout) << " threads=" << threads;
            }
        }
    }
    set_num_threads(saved);
}

// "fused" runs the fused filter transform and "dcgan" the whole U, on every ISA's GEMM tiles.
TEST(WinogradSubPixel, ShapesCoverBothFilterPaths) {
    for (const TransposedShape& shape : transposed_shapes()) {
        const std::string name = shape.name;
        if (name != "fused" && name != "dcgan") continue;
        const ConvProblem f = winograd_sub_pixel_problem(build_transposed(shape, DType::f32));
        const bool fused = winograd::fuses_filter_transform<float>(f, winograd::prefers_2x2(f) ? 2 : 4);
        EXPECT_EQ(fused, name == "fused") << name;
    }
}

// DCGAN's layer (16x16 x 128 -> 32x32 x 64, 4x4, stride 2, padding 1): output pixel 2j + r reads
// input pixels j - 1 .. j + 1, so the forward form pads by 1 and keeps the 16x16 size.
TEST(WinogradSubPixel, ForwardFormAndDeclines) {
    const auto make = [](std::vector<int64_t> x, std::vector<int64_t> w, std::vector<int64_t> stride,
                         std::vector<int64_t> pad, std::vector<int64_t> dilation = {1, 1}, int64_t groups = 1) {
        ConvParams params;
        params.stride = stride;
        params.dilation = dilation;
        params.pad_before = pad;
        params.pad_after = pad;
        params.groups = groups;
        return make_conv_transpose_problem(DType::f32, x, w, params);
    };
    const ConvProblem dcgan = make({1, 128, 16, 16}, {128, 64, 4, 4}, {2, 2}, {1, 1});
    const ConvProblem f = winograd_sub_pixel_problem(dcgan);
    EXPECT_EQ(f.kind, ConvKind::forward);
    EXPECT_EQ(f.in_channels, 128);
    EXPECT_EQ(f.out_channels, 4 * 64);
    EXPECT_EQ(f.in_size, (Dims{1, 16, 16}));
    EXPECT_EQ(f.out_size, (Dims{1, 16, 16}));
    EXPECT_EQ(f.kernel, (Dims{1, 3, 3}));
    EXPECT_EQ(f.pad_before, (Dims{0, 1, 1}));
    EXPECT_EQ(f.pad_after, (Dims{0, 1, 1}));
    EXPECT_EQ(winograd_4x4_impl.declines(f), "");

    const auto reason = [](const ConvProblem& p) { return winograd_sub_pixel_impl.declines(p); };
    EXPECT_EQ(reason(dcgan), "");
    EXPECT_NE(reason(f).find("transposed"), std::string::npos);
    EXPECT_EQ(reason(make({1, 4, 8, 8}, {4, 4, 6, 4}, {2, 2}, {2, 1})), "");  // 3 taps a class
    EXPECT_NE(reason(make({1, 4, 8, 8}, {4, 4, 7, 4}, {2, 2}, {2, 1})).find("3 x 3"), std::string::npos);
    EXPECT_NE(reason(make({1, 4, 8, 8}, {4, 2, 4, 4}, {2, 2}, {1, 1}, {1, 1}, 2)).find("groups"), std::string::npos);
    EXPECT_NE(reason(make({1, 4, 8, 8}, {4, 4, 3, 3}, {2, 2}, {1, 1}, {2, 1})).find("dilation"), std::string::npos);
    EXPECT_NE(reason(make({1, 4, 8, 8}, {4, 4, 5, 5}, {5, 4}, {1, 1})).find("16 sub-pixel classes"), std::string::npos);
    ConvParams one_d;
    one_d.stride = {2};
    one_d.dilation = {1};
    one_d.pad_before = {1};
    one_d.pad_after = {1};
    EXPECT_NE(reason(make_conv_transpose_problem(DType::f32, {1, 4, 8}, {4, 4, 4}, one_d)).find("2-D"),
              std::string::npos);
}

}  // namespace
}  // namespace fastconv

namespace fastconv {
namespace {

// The accuracy table of docs/winograd.md (run with --gtest_also_run_disabled_tests
// --gtest_filter='*AccuracyTable*'): the suite's 3x3 stride-1 layers, x and w uniform in [-1, 1],
// error of each float32 path relative to the largest |y| of the float64 reference.
TEST(Winograd, DISABLED_AccuracyTable) {
    struct Layer {
        const char* name;
        std::vector<int64_t> x, w;
        int64_t groups;
        int64_t dilation = 1;
    };
    const std::vector<Layer> layers{
        {"resnet_3x3_56", {1, 64, 56, 56}, {64, 64, 3, 3}, 1},
        {"resnet_3x3_28", {1, 128, 28, 28}, {128, 128, 3, 3}, 1},
        {"resnet_3x3_14", {1, 256, 14, 14}, {256, 256, 3, 3}, 1},
        {"resnet_3x3_7", {1, 512, 7, 7}, {512, 512, 3, 3}, 1},
        {"vgg_3x3_224", {1, 64, 224, 224}, {64, 64, 3, 3}, 1},
        {"batch8_3x3_28", {8, 128, 28, 28}, {128, 128, 3, 3}, 1},
        {"grouped_3x3", {1, 256, 28, 28}, {256, 8, 3, 3}, 32},
        {"dilated_3x3", {1, 256, 32, 32}, {256, 256, 3, 3}, 1, 2},
        {"conv3d_video", {1, 32, 16, 56, 56}, {32, 32, 3, 3, 3}, 1},
    };
    printf("%-14s %-12s %10s %10s\n", "layer", "path", "max", "median");
    for (const Layer& layer : layers) {
        const size_t dims = layer.x.size() - 2;
        const std::vector<int64_t> ones(dims, 1), pad(dims, layer.dilation);  // "same" size outputs
        std::vector<int64_t> dilation(dims, 1);
        dilation[dims - 1] = dilation[dims - 2] = layer.dilation;
        const ConvParams params{ones, dilation, pad, pad, {}, layer.groups};
        const ConvProblem p = make_conv_problem(DType::f32, layer.x, layer.w, params);
        const auto x = uniform(p.x_elements(), 11), w = uniform(p.weight_elements(), 12);
        const auto b = uniform(p.out_channels, 13);
        const Expected e = expected_for<float>(p, x, w, b);
        double largest = 0;
        for (double v : e.y) largest = std::max(largest, std::abs(v));
        const auto xt = cast<float>(x), wt = cast<float>(w), bt = cast<float>(b);
        auto report = [&](const char* path, auto&& run) {
            std::vector<float> y(p.y_elements());
            run(ConvArgs{xt.data(), wt.data(), bt.data(), y.data()});
            std::vector<double> errors(y.size());
            for (size_t i = 0; i < y.size(); ++i) errors[i] = std::abs(y[i] - e.y[i]) / largest;
            std::sort(errors.begin(), errors.end());
            printf("%-14s %-12s %10.2e %10.2e\n", layer.name, path, errors.back(), errors[errors.size() / 2]);
        };
        report("direct", [&](const ConvArgs& a) { select_impl(p, Algo::direct).run(p, a); });
        report("F(2x2,3x3)", [&](const ConvArgs& a) { winograd::run_with(winograd::active_ukernel<float>(2), p, a); });
        report("F(4x4,3x3)", [&](const ConvArgs& a) { winograd::run_with(winograd::active_ukernel<float>(4), p, a); });
    }
}

}  // namespace
}  // namespace fastconv
