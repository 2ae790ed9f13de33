// ConvProblem construction: output sizes against the formulas, the transposed problem's forward
// view, and every validation error (with the argument named in the message), including sizes that
// overflow int64 long before anything could be allocated.
#include <gtest/gtest.h>

#include <limits>

#include "fastconv/fastconv.hpp"

namespace fastconv {
namespace {

ConvParams params2d(std::vector<int64_t> stride = {1, 1}, std::vector<int64_t> dilation = {1, 1},
                    std::vector<int64_t> before = {0, 0}, std::vector<int64_t> after = {0, 0},
                    std::vector<int64_t> output_padding = {}, int64_t groups = 1) {
    return ConvParams{stride, dilation, before, after, output_padding, groups};
}

template <typename Fn>
void expect_invalid(Fn&& fn, const std::string& fragment) {
    try {
        fn();
        FAIL() << "expected InvalidArgument mentioning '" << fragment << "'";
    } catch (const InvalidArgument& e) {
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
}

TEST(OutputSize, MatchesTheFormulas) {
    EXPECT_EQ(conv_output_size(5, 3, 1, 0, 0, 1), 3);
    EXPECT_EQ(conv_output_size(5, 3, 2, 1, 1, 1), 3);
    EXPECT_EQ(conv_output_size(6, 3, 2, 1, 1, 1), 3);
    EXPECT_EQ(conv_output_size(7, 3, 1, 0, 0, 2), 3);
    EXPECT_EQ(conv_output_size(1, 5, 1, 2, 2, 1), 1);
    EXPECT_EQ(conv_transpose_output_size(3, 3, 2, 1, 1, 1, 1), 6);
    EXPECT_EQ(conv_transpose_output_size(4, 4, 2, 1, 1, 0, 1), 8);
    EXPECT_EQ(conv_transpose_output_size(2, 3, 1, 0, 0, 1, 2), 7);
    expect_invalid([] { conv_output_size(2, 5, 1, 0, 0, 1); }, "kernel too large");
    expect_invalid([] { conv_transpose_output_size(1, 1, 1, 1, 1, 0, 1); }, "padding too large");
    expect_invalid([] { conv_transpose_output_size(3, 3, 2, 0, 0, 2, 1); }, "output_padding");
}

// A transposed problem is the forward view whose output is the transposed op's input.
TEST(Problem, TransposedIsTheForwardViewReadBackwards) {
    const ConvProblem t = make_conv_transpose_problem(DType::f32, {2, 6, 4, 5}, {6, 3, 3, 3},
                                                      params2d({2, 2}, {1, 1}, {1, 1}, {1, 1}, {1, 0}, 2));
    EXPECT_EQ(t.kind, ConvKind::transposed);
    EXPECT_EQ(t.out_channels, 6);  // the op's input channels
    EXPECT_EQ(t.in_channels, 6);   // weight.shape[1] * groups
    EXPECT_EQ(t.out_size[1], 4);
    EXPECT_EQ(t.in_size[1], conv_transpose_output_size(4, 3, 2, 1, 1, 1, 1));
    EXPECT_EQ(t.in_size[2], conv_transpose_output_size(5, 3, 2, 1, 1, 0, 1));
    EXPECT_EQ(t.pad_after[1], 0);  // padding 1 - output_padding 1
    for (int d = 1; d < 3; ++d)
        EXPECT_EQ(conv_output_size(t.in_size[d], t.kernel[d], t.stride[d], t.pad_before[d], t.pad_after[d], t.dilation[d]),
                  t.out_size[d]);
    const ConvProblem f = make_conv_problem(DType::f64, {1, 3, 9}, {4, 3, 2}, ConvParams{{2}, {3}, {1}, {2}, {}, 1});
    EXPECT_EQ(f.ndim, 1);
    EXPECT_EQ(f.in_size[0], 1);
    EXPECT_EQ(f.in_size[1], 1);
    EXPECT_EQ(f.out_size[2], conv_output_size(9, 2, 2, 1, 2, 3));
}

TEST(Problem, ValidationNamesTheArgument) {
    expect_invalid([] { make_conv_problem(DType::f32, {1, 4, 5, 5}, {2, 3, 3, 3}, params2d()); }, "weight.shape[1]");
    expect_invalid([] { make_conv_problem(DType::f32, {1, 4, 5, 5}, {3, 2, 3, 3}, params2d({1, 1}, {1, 1}, {0, 0}, {0, 0}, {}, 2)); },
                   "divisible by groups");
    expect_invalid([] { make_conv_problem(DType::f32, {1, 3, 5, 5}, {3, 1, 3, 3}, params2d({1, 1}, {1, 1}, {0, 0}, {0, 0}, {}, 2)); },
                   "divisible by groups");
    expect_invalid([] { make_conv_problem(DType::f32, {1, 1, 5, 5}, {1, 1, 3, 3}, params2d({0, 1})); }, "stride");
    expect_invalid([] { make_conv_problem(DType::f32, {1, 1, 5, 5}, {1, 1, 3, 3}, params2d({1, 1}, {1, -1})); }, "dilation");
    expect_invalid([] { make_conv_problem(DType::f32, {1, 1, 5, 5}, {1, 1, 3, 3}, params2d({1, 1}, {1, 1}, {-1, 0})); }, "padding");
    expect_invalid([] { make_conv_problem(DType::f32, {1, 1, 5, 5}, {1, 1, 3, 3}, params2d({1})); }, "stride needs 2 values");
    expect_invalid([] { make_conv_problem(DType::f32, {1, 1, 5, 5}, {1, 1, 3}, params2d()); }, "weight must have 4 dimensions");
    expect_invalid([] { make_conv_problem(DType::f32, {1, 1, 2, 2}, {1, 1, 3, 3}, params2d()); }, "kernel too large");
    expect_invalid([] { make_conv_problem(DType::f32, {1, 1, 5, 5}, {1, 1, 3, 3}, params2d({1, 1}, {1, 1}, {0, 0}, {0, 0}, {0, 0})); },
                   "output_padding");
    expect_invalid([] { make_conv_problem(DType::f32, {5, 5}, {1, 1}, params2d()); }, "3, 4 or 5 dimensions");
    expect_invalid([] { make_conv_transpose_problem(DType::f32, {1, 4, 5, 5}, {3, 2, 3, 3}, params2d()); }, "weight.shape[0]");
    expect_invalid([] { make_conv_transpose_problem(DType::f32, {1, 2, 5, 5}, {2, 2, 3, 3}, params2d({2, 2}, {1, 1}, {0, 0}, {0, 0}, {2, 0})); },
                   "output_padding must be smaller");
    expect_invalid([] { make_conv_transpose_problem(DType::f32, {1, 2, 2, 2}, {2, 2, 1, 1}, params2d({1, 1}, {1, 1}, {1, 1}, {1, 1}, {0, 0})); },
                   "padding too large");
}

// The checks fire on the arithmetic, before anything could be allocated.
TEST(Problem, SizesThatOverflowInt64AreRejected) {
    const int64_t huge = int64_t(1) << 40;
    expect_invalid([&] { make_conv_problem(DType::f32, {huge, huge, 4, 4}, {1, huge, 1, 1}, params2d()); }, "overflows");
    expect_invalid([&] { make_conv_problem(DType::f32, {1, 1, huge, huge}, {huge, 1, 1, 1}, params2d()); }, "overflows");
    const int64_t max = std::numeric_limits<int64_t>::max();
    expect_invalid([&] { make_conv_problem(DType::f32, {1, 1, max, 1}, {1, 1, 1, 1}, params2d({1, 1}, {1, 1}, {1, 0}, {1, 0})); },
                   "overflows");
    expect_invalid([&] { conv_transpose_output_size(max, 3, 2, 0, 0, 0, 1); }, "overflows");
    // Near 2^31 elements is fine: sizes are 64-bit throughout.
    const ConvProblem p = make_conv_problem(DType::f32, {1, 1, 1 << 16, 1 << 16}, {1, 1, 1, 1}, params2d());
    EXPECT_EQ(p.y_elements(), int64_t(1) << 32);
}

TEST(Algo, NamesRoundTripAndUnknownNamesAreListed) {
    for (const std::string& name : algo_names()) EXPECT_EQ(algo_name(parse_algo(name)), name);
    expect_invalid([] { parse_algo("winograd!"); }, "'direct'");
}

}  // namespace
}  // namespace fastconv
