// Every registry entry against the reference loops, over a table of shapes chosen to hit the
// traversal's edges (padding on both sides, stride > kernel, dilation, kernel larger than the input,
// groups, depthwise, 1-D/2-D/3-D, batch 0 and 1, odd channels) in float32 and float64, in
// channels-first and channels-last memory. The expected values always come from the reference on
// channels-first memory, so a layout mistake cannot hide in both sides. The output is poisoned with
// NaN first, so an element an implementation forgets to write fails the comparison.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <utility>

#include "fastconv/fastconv.hpp"
#include "convchw/convchw.hpp"
#include "dwconv/dwconv.hpp"
#include "igemm/igemm.hpp"
#include "layout.hpp"
#include "registry.hpp"

namespace fastconv {
namespace {

struct Shape {
    const char* name;
    bool transposed;
    std::vector<int64_t> x;  // the op's input shape
    std::vector<int64_t> w;  // the op's weight shape (torch layout)
    std::vector<int64_t> stride, dilation, pad_before, pad_after, output_padding;
    int64_t groups;
};

const std::vector<Shape>& shapes() {
    static const std::vector<Shape> table{
        {"plain_3x3", false, {2, 3, 7, 6}, {5, 3, 3, 3}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, {}, 1},
        {"padded_3x3", false, {1, 4, 8, 8}, {6, 4, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 1},
        {"asymmetric_pad", false, {1, 3, 5, 9}, {4, 3, 3, 2}, {1, 2}, {1, 1}, {2, 0}, {0, 3}, {}, 1},
        {"stride_gt_kernel", false, {1, 2, 11, 10}, {3, 2, 2, 2}, {3, 4}, {1, 1}, {1, 0}, {1, 2}, {}, 1},
        {"dilated", false, {1, 3, 9, 9}, {4, 3, 3, 3}, {1, 2}, {2, 3}, {2, 1}, {2, 1}, {}, 1},
        {"kernel_gt_input", false, {1, 2, 3, 2}, {3, 2, 5, 4}, {1, 1}, {1, 1}, {2, 2}, {2, 1}, {}, 1},
        {"grouped", false, {2, 6, 6, 5}, {9, 2, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 3},
        {"depthwise", false, {1, 5, 7, 7}, {5, 1, 3, 3}, {2, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 5},
        // Channel counts that fill the widest depthwise vector steps and leave every tail.
        {"depthwise_wide", false, {2, 83, 6, 9}, {83, 1, 3, 3}, {1, 2}, {2, 1}, {2, 1}, {1, 1}, {}, 83},
        {"depthwise_dilated_width", false, {2, 7, 9, 37}, {7, 1, 3, 3}, {2, 1}, {1, 2}, {1, 2}, {0, 2}, {}, 7},
        {"depthwise_3d_flat_padded", false, {1, 2, 1, 1, 1}, {2, 1, 1, 1, 1}, {2, 1, 1}, {1, 1, 1}, {1, 0, 0}, {0, 0, 0}, {}, 2},
        {"depthwise_3d_flat_padded_all", false, {1, 2, 1, 1, 1}, {2, 1, 1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {}, 2},
        // 16-32 input channels with small weights: igemm merges the kernel row into the reduction.
        {"merged_width_24ch", false, {1, 24, 5, 9}, {10, 24, 3, 3}, {1, 2}, {1, 1}, {1, 1}, {1, 1}, {}, 1},
        {"merged_width_3d", false, {2, 20, 3, 4, 6}, {6, 20, 3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 0, 1}, {}, 1},
        // Bundles of 8- and 4-channel groups (igemm's AVX-512 group-pair and group-quad kernels,
        // AVX2's group pairs), with padding, a stride, dilation.
        {"grouped_pairs_of_8", false, {2, 32, 7, 9}, {32, 8, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 4},
        {"grouped_pairs_strided", false, {1, 16, 9, 8}, {16, 8, 3, 2}, {2, 1}, {1, 2}, {2, 0}, {1, 1}, {}, 2},
        {"grouped_quads_of_4", false, {2, 32, 6, 7}, {32, 4, 3, 3}, {1, 2}, {1, 1}, {1, 1}, {1, 0}, {}, 8},
        {"grouped_quads_dilated", false, {1, 16, 8, 9}, {16, 4, 2, 3}, {1, 1}, {2, 1}, {1, 1}, {0, 2}, {}, 4},
        // AVX2 bundles four groups of 2 to a ymm (and two of 4: the shapes above).
        {"grouped_quads_of_2", false, {2, 16, 5, 7}, {16, 2, 3, 3}, {1, 2}, {1, 1}, {1, 1}, {1, 0}, {}, 8},
        // Strided 1x1 without padding: igemm gathers only the pixels the stride reads from
        // channels-first memory (stride 2 and 3 along the width, the height alone, 3-D grouped).
        {"pointwise_strided_wide", false, {2, 5, 9, 11}, {7, 5, 1, 1}, {2, 3}, {1, 1}, {0, 0}, {0, 0}, {}, 1},
        {"pointwise_strided_rows", false, {1, 6, 7, 5}, {4, 6, 1, 1}, {3, 1}, {1, 1}, {0, 0}, {0, 0}, {}, 1},
        {"pointwise_strided_3d_grouped", false, {1, 4, 5, 4, 6}, {6, 2, 1, 1, 1}, {2, 1, 2}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {}, 2},
        // The merged form's copy is padded in height and depth too: padding wider than the window
        // reaches, dilation across rows and planes, a stride that skips the last rows.
        {"merged_padded_dilated", false, {2, 3, 7, 8}, {5, 3, 3, 4}, {3, 2}, {2, 1}, {4, 3}, {1, 2}, {}, 1},
        {"merged_3d_depth_padded", false, {1, 4, 3, 5, 6}, {3, 4, 2, 3, 3}, {2, 1, 2}, {2, 2, 1}, {2, 1, 0}, {3, 0, 2}, {}, 1},
        // Rows of two full 32-wide vector blocks plus a tail, exact multiples of 8 and of 32.
        {"depthwise_wide_rows", false, {1, 3, 4, 75}, {3, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 3},
        {"depthwise_row_of_64", false, {1, 2, 3, 64}, {2, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 2},
        // A block plus three whole vectors (no masked store at all), and a single whole vector.
        {"depthwise_row_of_56", false, {1, 2, 3, 56}, {2, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 2},
        {"depthwise_row_of_8", false, {1, 3, 4, 8}, {3, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 3},
        // Four-pixel 3x3 kernel: 16 + 8 + 3 channels, rows of two groups of four and three more,
        // padding columns on both sides; and a 3-D problem whose depth padding makes whole padding planes.
        {"depthwise_four_pixels", false, {2, 27, 5, 11}, {27, 1, 3, 3}, {2, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 27},
        {"depthwise_four_pixels_3d_depth_padded", false, {1, 9, 1, 4, 8}, {9, 1, 1, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 0, 1}, {}, 9},
        {"depthwise_multiplier", false, {1, 4, 6, 6}, {8, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 4},
        {"depthwise_1d", false, {1, 19, 30}, {19, 1, 5}, {2}, {1}, {2}, {2}, {}, 19},
        {"depthwise_3d", false, {1, 17, 4, 5, 6}, {17, 1, 3, 3, 3}, {1, 1, 2}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {}, 17},
        {"depthwise_kernel_gt_input", false, {1, 16, 2, 3}, {16, 1, 5, 5}, {1, 1}, {1, 1}, {2, 2}, {2, 2}, {}, 16},
        {"pointwise", false, {2, 7, 5, 6}, {9, 7, 1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, {}, 1},
        {"pointwise_strided", false, {1, 7, 5, 6}, {3, 7, 1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, {}, 1},
        {"conv1d", false, {2, 3, 50}, {4, 3, 5}, {2}, {3}, {4}, {1}, {}, 1},
        {"conv3d", false, {1, 3, 5, 6, 4}, {4, 3, 3, 2, 3}, {1, 2, 1}, {1, 1, 2}, {1, 0, 2}, {1, 1, 0}, {}, 1},
        {"batch0", false, {0, 3, 5, 5}, {4, 3, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 1},
        {"large_positions", false, {1, 3, 40, 41}, {17, 3, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 1},
        {"wide_reduction", false, {1, 40, 9, 9}, {19, 40, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 1},
        // More input channels than igemm's weight packing copies at once (112 for 3x3 and
        // 16-column blocks, 24 for 64-column ones): several copies and a tail.
        {"deep_reduction", false, {1, 250, 4, 5}, {20, 250, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 1},
        {"t_plain", true, {2, 3, 4, 5}, {3, 5, 3, 3}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, {0, 0}, 1},
        {"t_stride2", true, {1, 4, 5, 4}, {4, 3, 4, 4}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, 1},
        {"t_output_padding", true, {1, 3, 4, 4}, {3, 2, 3, 3}, {2, 3}, {1, 1}, {1, 0}, {1, 0}, {1, 2}, 1},
        {"t_dilation_output_padding", true, {1, 2, 5, 5}, {2, 3, 3, 3}, {1, 1}, {2, 3}, {0, 1}, {0, 1}, {1, 2}, 1},
        {"t_asymmetric_pad", true, {1, 3, 6, 3}, {3, 2, 3, 4}, {2, 1}, {1, 2}, {2, 0}, {0, 1}, {1, 0}, 1},
        {"t_stride_gt_kernel", true, {1, 2, 3, 3}, {2, 3, 2, 2}, {4, 3}, {1, 1}, {0, 0}, {0, 0}, {0, 0}, 1},
        {"t_grouped", true, {2, 6, 4, 4}, {6, 2, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 3},
        {"t_depthwise", true, {1, 4, 5, 5}, {4, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, 4},
        {"t_pointwise", true, {1, 5, 4, 3}, {5, 6, 1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, {0, 0}, 1},
        {"t_conv1d", true, {2, 3, 9}, {3, 4, 4}, {3}, {2}, {2}, {1}, {1}, 1},
        {"t_conv3d", true, {1, 2, 3, 4, 3}, {2, 3, 2, 3, 2}, {2, 1, 2}, {1, 2, 1}, {0, 1, 1}, {0, 1, 0}, {1, 0, 1}, 1},
        // Many column blocks next to small images: igemm packs each block inside its task.
        {"many_blocks", false, {1, 8, 3, 3}, {300, 8, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 1},
        {"grouped_many_blocks", false, {2, 8, 4, 4}, {260, 4, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 2},
        {"t_many_blocks", true, {1, 8, 3, 3}, {8, 200, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1},
        {"t_many_channels", true, {1, 24, 6, 6}, {24, 20, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1},
        // Rows wider than the channels-first tiles (several tiles and a tail), channel blocks with
        // tails, padding columns on both ends, dilation along the width, 1-D and 3-D.
        {"wide_rows_grouped", false, {2, 16, 5, 70}, {16, 8, 3, 3}, {1, 1}, {1, 1}, {1, 2}, {1, 3}, {}, 2},
        {"wide_rows_dilated", false, {1, 5, 4, 45}, {13, 5, 2, 5}, {2, 1}, {1, 3}, {0, 6}, {1, 0}, {}, 1},
        {"wide_rows_1d", false, {2, 6, 100}, {20, 6, 7}, {1}, {1}, {3}, {4}, {}, 1},
        {"wide_rows_3d", false, {1, 3, 3, 4, 33}, {10, 3, 2, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 1, 1}, {}, 1},
    };
    return table;
}

ConvProblem build(const Shape& s, DType dtype) {
    ConvParams params;
    params.stride = s.stride;
    params.dilation = s.dilation;
    params.pad_before = s.pad_before;
    params.pad_after = s.pad_after;
    params.output_padding = s.output_padding;
    params.groups = s.groups;
    return s.transposed ? make_conv_transpose_problem(dtype, s.x, s.w, params) : make_conv_problem(dtype, s.x, s.w, params);
}

template <typename T>
std::vector<T> random_values(int64_t count, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    std::vector<T> values(static_cast<size_t>(count));
    for (T& v : values) v = static_cast<T>(dist(rng));
    return values;
}

// (N, A, B) -> (N, B, A): channels-first <-> channels-last memory of one activation.
template <typename T>
std::vector<T> swap_inner(const std::vector<T>& values, int64_t batch, int64_t a, int64_t b) {
    std::vector<T> out(values.size());
    for (int64_t n = 0; n < batch; ++n)
        for (int64_t i = 0; i < a; ++i)
            for (int64_t j = 0; j < b; ++j) out[(n * b + j) * a + i] = values[(n * a + i) * b + j];
    return out;
}

// Runs `run` on problem p (in `layout`) with channels-first src, returns channels-first dst.
template <typename T, typename Run>
std::vector<T> run_in_layout(ConvProblem p, Layout layout, const std::vector<T>& src, const T* weight, const T* bias,
                             Run&& run) {
    p.layout = layout;
    const bool forward = p.kind == ConvKind::forward;
    const int64_t src_c = forward ? p.in_channels : p.out_channels, dst_c = p.dst_channels();
    const int64_t src_s = forward ? p.in_spatial() : p.out_spatial(), dst_s = forward ? p.out_spatial() : p.in_spatial();
    const bool last = layout == Layout::channels_last;
    const std::vector<T> in = last ? swap_inner(src, p.batch, src_c, src_s) : src;
    std::vector<T> out(p.dst_elements(), std::numeric_limits<T>::quiet_NaN());
    run(p, in.data(), weight, bias, out.data());
    return last ? swap_inner(out, p.batch, dst_s, dst_c) : out;
}

template <typename T>
void expect_matches(const std::vector<T>& actual, const std::vector<T>& expected, const ConvProblem& p,
                    const std::string& what) {
    const double tolerance = (std::is_same<T, float>::value ? 2e-6 : 1e-14) * (p.gemm_k() + 1) * 4;
    for (size_t i = 0; i < expected.size(); ++i)
        ASSERT_NEAR(actual[i], expected[i], tolerance) << what << " element " << i << " " << p.describe();
}

template <typename T>
void check_impl_against_reference(const ConvImpl& impl, const Shape& shape, DType dtype, Layout layout) {
    ConvProblem p = build(shape, dtype);
    p.layout = layout;
    if (!impl.declines(p).empty()) return;
    p.layout = Layout::channels_first;
    const auto src = random_values<T>(p.src_elements(), 1);
    const auto weight = random_values<T>(p.weight_elements(), 2);
    const auto bias = random_values<T>(p.dst_channels(), 3);
    for (bool with_bias : {false, true}) {
        const T* b = with_bias ? bias.data() : nullptr;
        std::vector<T> expected(p.dst_elements());
        reference_impl.run(p, {src.data(), weight.data(), b, expected.data()});
        const auto actual = run_in_layout<T>(p, layout, src, weight.data(), b,
                                             [&](const ConvProblem& q, const T* s, const T* w, const T* bb, T* d) {
                                                 if (q.dst_elements() > 0) impl.run(q, {s, w, bb, d});
                                             });
        expect_matches(actual, expected, p,
                       std::string(impl.name) + " " + shape.name + " " + layout_name(layout) +
                           " bias=" + std::to_string(with_bias));
    }
}

class ImplTest : public ::testing::TestWithParam<std::tuple<size_t, size_t>> {};

TEST_P(ImplTest, MatchesReference) {
    const ConvImpl& impl = conv_registry()[std::get<0>(GetParam())];
    const Shape& shape = shapes()[std::get<1>(GetParam())];
    for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
        check_impl_against_reference<float>(impl, shape, DType::f32, layout);
        check_impl_against_reference<double>(impl, shape, DType::f64, layout);
    }
}

INSTANTIATE_TEST_SUITE_P(Registry, ImplTest,
                         ::testing::Combine(::testing::Range<size_t>(0, conv_registry().size()),
                                            ::testing::Range<size_t>(0, shapes().size())),
                         [](const ::testing::TestParamInfo<ImplTest::ParamType>& info) {
                             return std::string(conv_registry()[std::get<0>(info.param)].name) + "_" +
                                    shapes()[std::get<1>(info.param)].name;
                         });

// run_conv on channels-last memory, for every family: through an implementation that reads it or
// through the channels-first copies.
TEST(RunConv, ChannelsLastEveryFamily) {
    for (const Shape& shape : shapes()) {
        const ConvProblem p = build(shape, DType::f32);
        const auto src = random_values<float>(p.src_elements(), 9);
        const auto weight = random_values<float>(p.weight_elements(), 10);
        const auto bias = random_values<float>(p.dst_channels(), 11);
        std::vector<float> expected(p.dst_elements());
        reference_impl.run(p, {src.data(), weight.data(), bias.data(), expected.data()});
        for (Algo algo : {Algo::automatic, Algo::direct, Algo::im2col}) {
            const auto actual = run_in_layout<float>(
                p, Layout::channels_last, src, weight.data(), bias.data(),
                [&](const ConvProblem& q, const float* s, const float* w, const float* b, float* d) {
                    run_conv(q, algo, s, w, b, d);
                });
            expect_matches(actual, expected, p, std::string("run_conv ") + algo_name(algo) + " " + shape.name);
        }
    }
}

TEST(RunConv, ExplainsLayoutConversion) {
    ConvProblem p = build(shapes()[0], DType::f32);
    p.layout = Layout::channels_last;
    EXPECT_NE(im2col_gemm_impl.declines(p).find("channels-first"), std::string::npos);
    EXPECT_EQ(selected_impl(p, Algo::im2col), "im2col_gemm (via channels-first copies)");
}

// Thin groups (ResNeXt's 32 groups of 4 channels) stay in the direct family: its kernels were
// 2-5x faster than the im2col GEMM that auto once chose for any layer under 8 channels per group.
TEST(RunConv, AutoKeepsThinGroupsDirect) {
    ConvProblem p = build({"resnext_4x4", false, {1, 128, 56, 56}, {128, 4, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 32},
                          DType::f32);
    EXPECT_EQ(selected_impl(p, Algo::automatic), "padded_chw");
    p.layout = Layout::channels_last;
    EXPECT_EQ(selected_impl(p, Algo::automatic), "igemm");
    // Groups of 6 fill no group bundle: on AVX2 channels-last memory they go to the channels-first
    // kernels through copies (igemm's one-group tile wastes lanes and stores partial vectors).
    ConvProblem sixes = build({"resnext_6x6", false, {1, 192, 56, 56}, {192, 6, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 32},
                              DType::f32);
    sixes.layout = Layout::channels_last;
    const bool avx2 = igemm::active_ukernel().isa == Isa::avx2;
    EXPECT_EQ(selected_impl(sixes, Algo::automatic), avx2 ? "padded_chw (via channels-first copies)" : "igemm");
    // The explicit family picks within itself as auto does, so a plan and its family's functional
    // call run the same kernel.
    EXPECT_EQ(selected_impl(sixes, Algo::direct), selected_impl(sixes, Algo::automatic));
    ConvProblem dense = build({"few_channels", false, {1, 4, 28, 28}, {64, 4, 3, 3}, {1, 1}, {1, 2}, {1, 2}, {1, 2}, {}, 1},
                              DType::f32);
    EXPECT_EQ(selected_impl(dense, Algo::automatic), "im2col_gemm");  // dilated along the width: no row merge
}

// igemm with every compiled microkernel this CPU can run, not only the one dispatch picks.
TEST(Igemm, EveryMicrokernelMatchesReference) {
    for (const igemm::Ukernel& ukernel : igemm::ukernels()) {
        if (ukernel.isa > detected_isa()) continue;
        for (const Shape& shape : shapes()) {
            const ConvProblem p = build(shape, DType::f32);
            if (ukernel.groups_per_call > 1 && !igemm::takes_group_bundles(ukernel, p)) continue;
            const auto src = random_values<float>(p.src_elements(), 12);
            const auto weight = random_values<float>(p.weight_elements(), 13);
            const auto bias = random_values<float>(p.dst_channels(), 14);
            std::vector<float> expected(p.dst_elements());
            reference_impl.run(p, {src.data(), weight.data(), bias.data(), expected.data()});
            for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
                const auto actual = run_in_layout<float>(
                    p, layout, src, weight.data(), bias.data(),
                    [&](const ConvProblem& q, const float* s, const float* w, const float* b, float* d) {
                        if (q.dst_elements() > 0) igemm::run_with(ukernel, q, {s, w, b, d});
                    });
                expect_matches(actual, expected, p, std::string(ukernel.name) + " " + shape.name);
            }
        }
    }
}

// Runs `run` (a kernel over ConvArgs) on p with random float32 operands from `seed` on and checks
// it against the reference; the output starts as NaN, so an element it never writes fails.
template <typename Run>
void expect_matches_reference(const ConvProblem& p, unsigned seed, const std::string& what, Run&& run) {
    const auto src = random_values<float>(p.src_elements(), seed);
    const auto weight = random_values<float>(p.weight_elements(), seed + 1);
    const auto bias = random_values<float>(p.dst_channels(), seed + 2);
    std::vector<float> expected(p.dst_elements());
    reference_impl.run(p, {src.data(), weight.data(), bias.data(), expected.data()});
    std::vector<float> actual(p.dst_elements(), std::numeric_limits<float>::quiet_NaN());
    run(ConvArgs{src.data(), weight.data(), bias.data(), actual.data()});
    expect_matches(actual, expected, p, what);
}

// small_image_gemm with every compiled one-group igemm microkernel this CPU can run, on every
// forward shape (its efficiency rule aside: it computes any geometry), channels-first as it reads.
TEST(SmallImageGemm, EveryMicrokernelMatchesReference) {
    for (const igemm::Ukernel& ukernel : igemm::ukernels()) {
        if (ukernel.isa > detected_isa() || ukernel.groups_per_call != 1) continue;
        for (const Shape& shape : shapes()) {
            const ConvProblem p = build(shape, DType::f32);
            if (p.kind != ConvKind::forward) continue;
            expect_matches_reference(p, 21, std::string(ukernel.name) + " " + shape.name,
                                     [&](const ConvArgs& args) { small_image::run_with(ukernel, p, args); });
        }
    }
}

// The depthwise kernel with every compiled microkernel this CPU can run.
TEST(Depthwise, EveryMicrokernelMatchesReference) {
    for (const dwconv::Ukernel& ukernel : dwconv::ukernels()) {
        if (ukernel.isa > detected_isa()) continue;
        for (const Shape& shape : shapes()) {
            const ConvProblem p = build(shape, DType::f32);
            if (!depthwise_impl.declines(p).empty()) continue;
            const auto src = random_values<float>(p.src_elements(), 15);
            const auto weight = random_values<float>(p.weight_elements(), 16);
            const auto bias = random_values<float>(p.dst_channels(), 17);
            std::vector<float> expected(p.dst_elements());
            reference_impl.run(p, {src.data(), weight.data(), bias.data(), expected.data()});
            for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
                const auto actual = run_in_layout<float>(
                    p, layout, src, weight.data(), bias.data(),
                    [&](const ConvProblem& q, const float* s, const float* w, const float* b, float* d) {
                        if (q.dst_elements() > 0) dwconv::run_with(ukernel, q, {s, w, b, d});
                    });
                expect_matches(actual, expected, p, std::string(ukernel.name) + " " + shape.name);
            }
        }
    }
}

// The four-pixel 3x3 kernel against four calls of the same ISA's one-pixel kernel, bit for bit,
// over channel counts that leave every vector tail (and none), with and without bias, and with
// zero columns standing in for padding.
TEST(Depthwise, FourPixelKernelGivesTheOnePixelBits) {
    for (const dwconv::Ukernel& ukernel : dwconv::ukernels()) {
        if (ukernel.isa > detected_isa()) continue;
        for (int64_t channels : {1, 7, 8, 15, 16, 17, 31, 32, 48, 63, 64, 65, 80, 127, 128, 131}) {
            const auto input = random_values<float>(18 * channels, 41);
            const auto weights = random_values<float>(9 * channels, 42);
            const auto bias = random_values<float>(channels, 43);
            const std::vector<float> zero(channels, 0.0f);
            const float* cols[18];
            for (int j = 0; j < 18; ++j) cols[j] = j % 7 == 3 ? zero.data() : input.data() + j * channels;
            // With and without bias, each with cached stores and, where the contract allows them (a
            // 64-byte aligned y, channels a multiple of 16), non-temporal ones.
            for (int variant = 0; variant < 4; ++variant) {
                const float* b = variant % 2 == 0 ? bias.data() : nullptr;
                const bool stream = variant >= 2;
                if (stream && channels % 16 != 0) continue;
                std::vector<float> storage(4 * channels + 16, std::numeric_limits<float>::quiet_NaN());
                float* four = storage.data();
                while (reinterpret_cast<uintptr_t>(four) % 64 != 0) ++four;
                ukernel.rows4_fn(channels, cols, weights.data(), b, four, stream);
                fence_streaming_stores();
                for (int p = 0; p < 4; ++p) {
                    const float* taps[9];
                    for (int r = 0; r < 3; ++r)
                        for (int s = 0; s < 3; ++s) taps[r * 3 + s] = cols[r * 6 + p + s];
                    std::vector<float> one(channels, std::numeric_limits<float>::quiet_NaN());
                    ukernel.fn(channels, 9, taps, weights.data(), b, one.data());
                    for (int64_t c = 0; c < channels; ++c)
                        ASSERT_EQ(std::memcmp(&four[p * channels + c], &one[c], sizeof(float)), 0)
                            << ukernel.name << " channels " << channels << " pixel " << p << " channel " << c
                            << (b ? " with bias" : " without bias") << (stream ? ", streamed" : "");
                }
            }
        }
    }
}

// Channels-first <-> channels-last conversion against its index formula, on sizes that leave
// every tail of the 8 x 4 vector tiles and take both of its task splits (few rows, many rows).
template <typename T>
void expect_transposes(int64_t batch, int64_t rows, int64_t cols) {
    const auto src = random_values<T>(batch * rows * cols, 31);
    std::vector<T> dst(src.size(), std::numeric_limits<T>::quiet_NaN());
    transpose_images(src.data(), dst.data(), batch, rows, cols);
    for (int64_t n = 0; n < batch; ++n)
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < cols; ++c)
                ASSERT_EQ(dst[(n * cols + c) * rows + r], src[(n * rows + r) * cols + c])
                    << batch << "x" << rows << "x" << cols << " at " << n << "," << r << "," << c;
}

TEST(Layout, TransposeImagesMatchesItsIndexFormula) {
    const int64_t sizes[][3] = {{1, 1, 1}, {2, 3, 37}, {1, 8, 4}, {3, 13, 9}, {1, 17, 65}, {2, 64, 33}, {1, 600, 7}, {1, 1031, 12}};
    for (const auto& s : sizes) {
        expect_transposes<float>(s[0], s[1], s[2]);
        expect_transposes<double>(s[0], s[1], s[2]);
    }
}

// The channels-first row kernel's pair of output rows against two single-row calls of the same
// ISA's kernel, bit for bit, and both rows against the contract's sum in double, over widths that
// leave every vector tail (and none) and several kernel shapes and dilations (3 x 3 takes the
// kernels' compile-time-size path, the others the run-time one); rows are padded as the contract
// asks.
TEST(Depthwise, RowPairGivesTwoSingleRowsBits) {
    struct RowShape {
        int64_t kh, kw, dw;
    };
    const RowShape shapes[] = {{3, 3, 1}, {3, 3, 2}, {1, 1, 1}, {5, 2, 3}, {2, 7, 1}};
    for (const dwconv::Ukernel& ukernel : dwconv::ukernels()) {
        if (ukernel.isa > detected_isa()) continue;
        for (const RowShape k : shapes)
            for (int64_t width : {1, 7, 8, 9, 16, 24, 31, 32, 33, 56, 63, 64, 65, 100}) {
                const int64_t span = width + (k.kw - 1) * k.dw + 32;
                const auto input = random_values<float>((k.kh + 1) * span, 44);
                const auto weights = random_values<float>(k.kh * k.kw, 45);
                const float* rows[8];
                for (int64_t r = 0; r <= k.kh; ++r) rows[r] = input.data() + r * span;
                std::vector<float> pair(2 * width, std::numeric_limits<float>::quiet_NaN());
                std::vector<float> single(2 * width, std::numeric_limits<float>::quiet_NaN());
                ukernel.row_fn(width, k.kh, k.kw, k.dw, rows, weights.data(), 0.25f, pair.data(), pair.data() + width);
                ukernel.row_fn(width, k.kh, k.kw, k.dw, rows, weights.data(), 0.25f, single.data(), nullptr);
                ukernel.row_fn(width, k.kh, k.kw, k.dw, rows + 1, weights.data(), 0.25f, single.data() + width, nullptr);
                ASSERT_EQ(std::memcmp(pair.data(), single.data(), pair.size() * sizeof(float)), 0)
                    << ukernel.name << " width " << width << " kernel " << k.kh << "x" << k.kw << " dilation " << k.dw;
                for (int64_t row = 0; row < 2; ++row)
                    for (int64_t ow = 0; ow < width; ++ow) {
                        double expected = 0.25;
                        for (int64_t r = 0; r < k.kh; ++r)
                            for (int64_t s = 0; s < k.kw; ++s)
                                expected += double{rows[row + r][ow + s * k.dw]} * weights[r * k.kw + s];
                        ASSERT_NEAR(pair[row * width + ow], expected, 1e-5 * (1 + std::abs(expected)))
                            << ukernel.name << " width " << width << " kernel " << k.kh << "x" << k.kw << " dilation "
                            << k.dw << " row " << row << " output " << ow;
                    }
            }
    }
}

// One panel transpose between padded strides, for every row count through the 8-, 4-, 2- and
// 1-row strips and every column tail of the 4-wide blocks; the padding between rows of d stays
// untouched.
template <typename T>
void expect_panel_transposes(int64_t rows, int64_t cols) {
    const int64_t s_stride = cols + 3, d_stride = rows + 5;
    const auto src = random_values<T>(rows * s_stride, 37);
    std::vector<T> dst(cols * d_stride, T(-7));
    transpose_panel(src.data(), s_stride, dst.data(), d_stride, rows, cols);
    for (int64_t c = 0; c < cols; ++c)
        for (int64_t r = 0; r < d_stride; ++r)
            ASSERT_EQ(dst[c * d_stride + r], r < rows ? src[r * s_stride + c] : T(-7))
                << rows << "x" << cols << " at " << r << "," << c;
}

TEST(Layout, TransposePanelMatchesItsIndexFormula) {
    for (int64_t rows = 1; rows <= 17; ++rows)
        for (int64_t cols = 1; cols <= 9; ++cols) {
            expect_panel_transposes<float>(rows, cols);
            expect_panel_transposes<double>(rows, cols);
        }
}

// The channels-first direct kernel with every compiled microkernel this CPU can run, on every
// shape within its hard limits (forward, unit width stride), whether or not its efficiency rule
// would pick it.
TEST(DirectChw, EveryMicrokernelMatchesReference) {
    for (const convchw::Ukernel& ukernel : convchw::ukernels()) {
        if (ukernel.isa > detected_isa()) continue;
        for (const Shape& shape : shapes()) {
            const ConvProblem p = build(shape, DType::f32);
            if (p.kind != ConvKind::forward || p.stride[2] != 1 || p.dst_elements() == 0) continue;
            expect_matches_reference(p, 18, std::string(ukernel.name) + " " + shape.name,
                                     [&](const ConvArgs& args) { convchw::run_with(ukernel, p, args); });
        }
    }
}

// The padded polyphase kernel with every compiled flat microkernel this CPU can run, on every
// forward shape (any stride, dilation, padding, groups; 1-, 2- and 3-D), whether or not its
// rules would pick it.
TEST(PaddedChw, EveryMicrokernelMatchesReference) {
    for (const convchw::FlatUkernel& ukernel : convchw::flat_ukernels()) {
        if (ukernel.isa > detected_isa()) continue;
        for (const Shape& shape : shapes()) {
            const ConvProblem p = build(shape, DType::f32);
            if (p.kind != ConvKind::forward || p.dst_elements() == 0) continue;
            expect_matches_reference(p, 21, std::string(ukernel.name) + " " + shape.name,
                                     [&](const ConvArgs& args) { convchw::run_with(ukernel, p, args); });
        }
    }
}

// Strides 2 and 3 with dilation and asymmetric padding split the input into residue planes of
// different widths; a tile count that is not a multiple of the task's rows leaves a short last
// chunk. Every thread count gives the same bits.
TEST(PaddedChw, PolyphaseSplitsMatchReferenceAtAnyThreadCount) {
    const ConvProblem p = make_conv_problem(DType::f32, {2, 6, 23, 37}, {10, 3, 5, 7},
                                            ConvParams{{2, 3}, {1, 2}, {2, 4}, {3, 1}, {}, 2});
    ASSERT_EQ(padded_chw_impl.declines(p), "");
    const auto x = random_values<float>(p.src_elements(), 24), w = random_values<float>(p.weight_elements(), 25);
    const auto bias = random_values<float>(p.dst_channels(), 26);
    std::vector<float> expected(p.dst_elements()), first;
    reference_impl.run(p, {x.data(), w.data(), bias.data(), expected.data()});
    const int saved = get_num_threads();
    for (int threads : {1, 2, 3, 5}) {
        set_num_threads(threads);
        std::vector<float> y(p.dst_elements(), std::numeric_limits<float>::quiet_NaN());
        padded_chw_impl.run(p, {x.data(), w.data(), bias.data(), y.data()});
        expect_matches(y, expected, p, "threads " + std::to_string(threads));
        if (first.empty()) first = y;
        EXPECT_EQ(y, first) << threads << " threads";
    }
    set_num_threads(saved);
}

TEST(PaddedChw, TakesThinGroupsAndFewInputChannelsOnChannelsFirstMemory) {
    const auto conv = [](std::vector<int64_t> x, std::vector<int64_t> w, int64_t groups, DType dtype = DType::f32) {
        return make_conv_problem(dtype, x, w, ConvParams{{1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, groups});
    };
    EXPECT_EQ(padded_chw_impl.declines(conv({1, 256, 28, 28}, {256, 8, 3, 3}, 32)), "");  // grouped_3x3
    EXPECT_EQ(padded_chw_impl.declines(conv({1, 3, 224, 224}, {64, 3, 7, 7}, 1)), "");    // an RGB stem
    EXPECT_NE(padded_chw_impl.declines(conv({1, 64, 56, 56}, {64, 64, 3, 3}, 1)).find("igemm"), std::string::npos);
    EXPECT_NE(padded_chw_impl.declines(conv({1, 3, 224, 224}, {64, 3, 7, 7}, 1, DType::f64)).find("float32"),
              std::string::npos);
    ConvProblem last = conv({1, 256, 28, 28}, {256, 8, 3, 3}, 32);
    last.layout = Layout::channels_last;
    EXPECT_NE(padded_chw_impl.declines(last).find("channels-first"), std::string::npos);
    // Thin groups on rows too wide for the copy: direct_chw reads them in place.
    const ConvProblem wide = conv({1, 64, 1, 100000}, {64, 8, 1, 9}, 8);
    EXPECT_NE(padded_chw_impl.declines(wide).find("256 KB"), std::string::npos);
    EXPECT_EQ(selected_impl(wide, Algo::direct), "direct_chw");
}

// A plan packs even when nothing will be computed: no output channels (its tile choice once
// divided 0 by 0 and dereferenced no kernel: a segfault on the first call) or an empty batch.
TEST(PaddedChw, PlansForEmptyProblems) {
    for (const auto& [x_shape, w_shape] : {std::pair<std::vector<int64_t>, std::vector<int64_t>>{{1, 3, 5, 5}, {0, 3, 3, 3}},
                                           {{0, 3, 5, 5}, {4, 3, 3, 3}}}) {
        const ConvProblem p = make_conv_problem(DType::f32, x_shape, w_shape, ConvParams{{1, 1}, {1, 1}, {1, 1}, {1, 1}, {}, 1});
        ASSERT_EQ(selected_impl(p, Algo::direct), "padded_chw");
        const std::vector<float> x(p.src_elements(), 1.0f), w(p.weight_elements(), 1.0f);
        std::vector<float> y(p.dst_elements());
        ConvPlan plan(p, Algo::direct, w.data());
        plan.run(x.data(), nullptr, y.data());
        EXPECT_EQ(y.size(), 0u);
    }
}

TEST(DirectChw, TakesWideChannelsFirstRowsAndDeclinesWhatItCannotVectorise) {
    const auto find = [](const char* name) {
        for (const Shape& shape : shapes())
            if (std::string(shape.name) == name) return build(shape, DType::f32);
        throw std::runtime_error(name);
    };
    EXPECT_EQ(direct_chw_impl.declines(find("wide_rows_grouped")), "");
    EXPECT_NE(direct_chw_impl.declines(find("wide_rows_1d")).find("16 output channels"), std::string::npos);
    EXPECT_NE(direct_chw_impl.declines(find("stride_gt_kernel")).find("stride 1 along the width"), std::string::npos);
    EXPECT_NE(direct_chw_impl.declines(find("t_plain")).find("forward"), std::string::npos);
    EXPECT_NE(direct_chw_impl.declines(find("plain_3x3")).find("too short"), std::string::npos);
    ConvProblem last = find("wide_rows_grouped");
    last.layout = Layout::channels_last;
    EXPECT_NE(direct_chw_impl.declines(last).find("channels-first"), std::string::npos);
    EXPECT_NE(direct_chw_impl.declines(build(shapes()[0], DType::f64)).find("float32"), std::string::npos);
}

TEST(Registry, EveryShapeHasADirectAndAGemmImplementation) {
    for (const Shape& shape : shapes()) {
        const ConvProblem p = build(shape, DType::f32);
        EXPECT_NO_THROW(select_impl(p, Algo::direct)) << shape.name;
        EXPECT_NO_THROW(select_impl(p, Algo::im2col)) << shape.name;
        EXPECT_NO_THROW(select_impl(p, Algo::automatic)) << shape.name;
        EXPECT_STREQ(select_impl(p, Algo::reference).name, "reference");
    }
}

TEST(Registry, DecliningEntriesSayWhy) {
    const ConvProblem p = build(shapes()[0], DType::f32);  // a 3x3 forward convolution
    for (const ImplChoice& choice : explain_selection(p, Algo::automatic))
        EXPECT_EQ(choice.accepted, choice.reason.empty()) << choice.name;
    EXPECT_NE(gemm_1x1_impl.declines(p).find("1x1"), std::string::npos);
    EXPECT_NE(gemm_col2im_impl.declines(p).find("transposed"), std::string::npos);
    for (const ImplChoice& choice : explain_selection(p, Algo::direct))
        if (choice.algo != "direct") {
            EXPECT_FALSE(choice.accepted) << choice.name;
        }
}

// The same call gives bitwise identical output for 1, 2 and 3 threads, for every entry.
TEST(Determinism, IndependentOfThreadCount) {
    const int saved = get_num_threads();
    for (const Shape& shape : shapes()) {
        const ConvProblem p = build(shape, DType::f32);
        const auto src = random_values<float>(p.src_elements(), 4);
        const auto weight = random_values<float>(p.weight_elements(), 5);
        for (const ConvImpl& impl : conv_registry()) {
            if (!impl.declines(p).empty() || p.dst_elements() == 0 || &impl == &reference_impl) continue;
            std::vector<float> first;
            for (int threads : {1, 2, 3}) {
                set_num_threads(threads);
                std::vector<float> out(p.dst_elements());
                impl.run(p, {src.data(), weight.data(), nullptr, out.data()});
                if (first.empty()) first = out;
                else ASSERT_EQ(0, std::memcmp(first.data(), out.data(), out.size() * sizeof(float))) << impl.name << " " << shape.name << " threads=" << threads;
            }
        }
    }
    set_num_threads(saved);
}

TEST(Unfold, MatchesDirectIndexing) {
    ConvParams params{{2, 1}, {1, 2}, {1, 0}, {0, 2}, {}, 1};
    const ConvProblem p = make_unfold_problem(DType::f64, 2, 3, {5, 6}, {2, 3}, params);
    const auto x = random_values<double>(p.x_elements(), 6);
    std::vector<double> columns(p.batch * p.gemm_k() * p.out_spatial(), std::nan(""));
    unfold(p, x.data(), columns.data());
    const int64_t L = p.out_spatial();
    for (int64_t n = 0; n < 2; ++n)
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t kh = 0; kh < 2; ++kh)
                for (int64_t kw = 0; kw < 3; ++kw)
                    for (int64_t oh = 0; oh < p.out_size[1]; ++oh)
                        for (int64_t ow = 0; ow < p.out_size[2]; ++ow) {
                            const int64_t ih = oh * 2 - 1 + kh, iw = ow - 0 + kw * 2;
                            const double expected = (ih < 0 || ih >= 5 || iw < 0 || iw >= 6) ? 0.0 : x[((n * 3 + c) * 5 + ih) * 6 + iw];
                            const int64_t row = (c * 2 + kh) * 3 + kw;
                            ASSERT_EQ(expected, columns[(n * p.gemm_k() + row) * L + oh * p.out_size[2] + ow]);
                        }
}

// fold is unfold's adjoint: <unfold(x), c> == <x, fold(c)> for any x and c.
TEST(Fold, IsTheAdjointOfUnfold) {
    ConvParams params{{2, 3}, {2, 1}, {1, 2}, {2, 0}, {}, 1};
    const ConvProblem p = make_unfold_problem(DType::f64, 1, 2, {7, 8}, {3, 2}, params);
    const auto x = random_values<double>(p.x_elements(), 7);
    const auto c = random_values<double>(p.batch * p.gemm_k() * p.out_spatial(), 8);
    std::vector<double> ux(c.size()), fc(x.size(), std::nan(""));
    unfold(p, x.data(), ux.data());
    fold(p, c.data(), fc.data());
    double left = 0, right = 0;
    for (size_t i = 0; i < c.size(); ++i) left += ux[i] * c[i];
    for (size_t i = 0; i < x.size(); ++i) right += x[i] * fc[i];
    EXPECT_NEAR(left, right, 1e-12 * (std::abs(left) + 1));
}

}  // namespace
}  // namespace fastconv
