// Reliability regressions of the C++ core: size arithmetic at the int64 edge (a padding near 2^63
// once wrapped a transposed output size around to a small positive number), the memory limit that
// refuses impossible allocations before making them, and the flush-to-zero mode kernels run
// under: set on every pool thread while a kernel runs, restored on all of them afterwards.
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <utility>
#include <cstring>
#include <limits>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "runtime/float_mode.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/workspace.hpp"

namespace fastconv {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST(Limits, TransposedPaddingNear2To63IsRejectedNotWrapped) {
    EXPECT_THROW(conv_transpose_output_size(2, 1, 2, kMax, kMax, 0, 1), InvalidArgument);
    EXPECT_THROW(conv_transpose_output_size(2, 1, 2, 0, kMax, 0, 1), InvalidArgument);
    EXPECT_THROW(make_conv_transpose_problem(DType::f32, {1, 1, 2}, {1, 1, 1}, ConvParams{{2}, {1}, {kMax}, {kMax}, {}, 1}),
                 InvalidArgument);
}

TEST(Limits, OutputSizesNear2To63) {
    // Each size fits int64, the element and byte counts do not.
    EXPECT_EQ(conv_transpose_output_size(2, 1, int64_t(1) << 61, 0, 0, 0, 1), (int64_t(1) << 61) + 1);
    EXPECT_THROW(make_conv_transpose_problem(DType::f32, {1, 1, 2}, {1, 1, 1}, ConvParams{{int64_t(1) << 61}, {1}, {0}, {0}, {}, 1}),
                 InvalidArgument);
    EXPECT_EQ(conv_output_size(kMax - 2, 1, 1, 1, 1, 1), kMax);
    EXPECT_THROW(conv_output_size(kMax - 1, 1, 1, 1, 1, 1), InvalidArgument);
    // Just past 2^31 elements per dimension: no int32 truncation anywhere.
    const ConvProblem p = make_conv_problem(DType::f32, {1, 1, (int64_t(1) << 31) + 5}, {1, 1, 3}, ConvParams{{1}, {1}, {1}, {1}, {}, 1});
    EXPECT_EQ(p.out_size[2], (int64_t(1) << 31) + 5);
    EXPECT_EQ(p.y_elements(), (int64_t(1) << 31) + 5);
}

TEST(Limits, IndexMappingWithAStrideNear2To63) {
    // ceil_div once computed offset + stride - 1, which overflows for a stride near 2^63
    // (found by tests/fuzz/fuzz_problem.cpp under UBSan).
    EXPECT_EQ(ceil_div(7, kMax), 1);
    EXPECT_EQ(ceil_div(-7, kMax), 0);
    EXPECT_EQ(floor_div(-7, kMax), -1);
    EXPECT_EQ(floor_div(kMax - 1, kMax), 0);
    EXPECT_EQ(floor_div(std::numeric_limits<int64_t>::min(), kMax), -2);
    const OutputRange range = valid_outputs(0, 4, 2, kMax, 1, 7);
    EXPECT_EQ(range.begin, 1);
    EXPECT_EQ(range.end, 1);
}

TEST(Limits, AllocationsBeyondMemoryAreRefusedBeforeAllocating) {
    EXPECT_GT(memory_limit_bytes(), int64_t(1) << 26);
    EXPECT_THROW(check_allocation(memory_limit_bytes() + 1, "test"), OutOfMemory);
    EXPECT_NO_THROW(check_allocation(1 << 20, "test"));
    EXPECT_THROW(scratch_bytes(ScratchSlot::columns, size_t(1) << 62), OutOfMemory);
}

TEST(Edges, EmptyProblemWithAWidthNear2To63) {
    // No images and no channels: nothing to compute, so a left padding of 2^63 - 1 makes an output
    // that wide and still accepted. Every algo's selection rule then sees that width; the
    // channels-first direct kernel's tile-fit estimate once overflowed rounding it up (found by
    // fuzz_problem under UBSan). Nothing may overflow, and nothing is written.
    const int64_t max = std::numeric_limits<int64_t>::max();
    for (DType dtype : {DType::f32, DType::f64}) {
        const ConvProblem p = make_conv_problem(dtype, {0, 0, 0, 0}, {0, 0, 1, 1},
                                                ConvParams{{1, 1}, {1, 1}, {1, max}, {0, 0}, {}, 1});
        ASSERT_EQ(p.out_size[2], max);
        for (Algo algo : {Algo::automatic, Algo::direct, Algo::im2col}) {
            EXPECT_FALSE(selected_impl(p, algo).empty());
            run_conv(p, algo, nullptr, nullptr, nullptr, nullptr);
        }
    }
}

TEST(Edges, LeftPaddingWiderThanTheWidthMergedCopy) {
    // Input width 1, left padding 5, stride 10: igemm's width-padded copy is 2 wide, and once had
    // its 5-wide left padding written into it, past the row (found by fuzz_problem under ASan).
    // padded_chw, which takes the problem on channels-first memory, copies planes 1 wide.
    ConvProblem p = make_conv_problem(DType::f32, {1, 3, 2, 1}, {8, 3, 1, 2},
                                      ConvParams{{1, 10}, {1, 1}, {0, 5}, {0, 0}, {}, 1});
    for (const auto& [layout, impl] : {std::pair{Layout::channels_last, "igemm"}, {Layout::channels_first, "padded_chw"}}) {
        p.layout = layout;
        std::vector<float> x(p.x_elements(), 1.0f), w(p.weight_elements(), 1.0f), bias(8, 0.5f);
        std::vector<float> y(p.y_elements(), -1.0f), expected(p.y_elements(), -2.0f);
        ASSERT_EQ(selected_impl(p, Algo::direct), impl);
        run_conv(p, Algo::direct, x.data(), w.data(), bias.data(), y.data());
        run_conv(p, Algo::reference, x.data(), w.data(), bias.data(), expected.data());
        EXPECT_EQ(y, expected) << impl;
    }
}

TEST(FloatMode, KernelsFlushDenormalsOnEveryThreadAndRestoreTheCallersMode) {
#if defined(FASTCONV_HAS_MXCSR)
    set_num_threads(4);
    const uint32_t before = float_mode();
    ASSERT_EQ(before & kFlushDenormals, 0u);
    std::atomic<int> flushed{0}, tasks{0};
    {
        FlushDenormalsScope scope;
        parallel_for(64, [&](int64_t) {
            ++tasks;
            if ((float_mode() & kFlushDenormals) == kFlushDenormals) ++flushed;
        });
    }
    EXPECT_EQ(tasks.load(), 64);
    EXPECT_EQ(flushed.load(), 64);  // workers too
    EXPECT_EQ(float_mode(), before);
    std::atomic<int> leaked{0};
    parallel_for(64, [&](int64_t) {
        if (float_mode() & kFlushDenormals) ++leaked;
    });
    EXPECT_EQ(leaked.load(), 0);  // workers restored their own mode
    // Back-to-back parallel_fors in alternating modes, with more threads than cores so workers
    // often wake late: a worker that woke for one must never run the next one's tasks in its mode.
    set_num_threads(8);
    std::atomic<int> wrong_mode{0};
    for (int round = 0; round < 2000; ++round) {
        const bool flush = round % 2 == 0;
        std::optional<FlushDenormalsScope> scope;
        if (flush) scope.emplace();
        parallel_for(16, [&](int64_t) {
            if (((float_mode() & kFlushDenormals) == kFlushDenormals) != flush) ++wrong_mode;
        });
    }
    EXPECT_EQ(wrong_mode.load(), 0);
    set_num_threads(4);
    // A whole convolution: denormal inputs read as zero, and the caller keeps gradual underflow.
    std::vector<float> x(64, 1e-39f), w(1, 1.0f), y(64, -1.0f);
    const ConvProblem p = make_conv_problem(DType::f32, {1, 1, 64}, {1, 1, 1}, ConvParams{{1}, {1}, {0}, {0}, {}, 1});
    run_conv(p, Algo::direct, x.data(), w.data(), nullptr, y.data());
    EXPECT_EQ(y[0], 0.0f);
    run_conv(p, Algo::reference, x.data(), w.data(), nullptr, y.data());
    EXPECT_EQ(y[0], 1e-39f);  // the reference keeps IEEE gradual underflow
    EXPECT_EQ(float_mode(), before);
    volatile float tiny = 1e-39f;
    EXPECT_NE(tiny * 1.0f, 0.0f);
    set_num_threads(2);
#else
    GTEST_SKIP() << "no MXCSR on this architecture";
#endif
}

}  // namespace
}  // namespace fastconv
