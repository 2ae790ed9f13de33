// The host-side planning of the CUDA kernels (cpp/src/cuda_plan.hpp), which runs without a GPU:
// the implicit-GEMM launches are executed here by a plain C++ emulation of what the kernel's
// loaders and epilogue compute from them (GatherA, TapWeightsB, ScatterEpilogue in
// cuda/implicit_gemm.cu), over random forward and transposed problems in 1-D, 2-D and 3-D with
// strides, dilations, paddings, output_padding and groups, and compared with the CPU reference.
// For the transposed op this checks the stride decomposition: every x element is written by
// exactly one launch, and only taps that land on real y elements are summed. The column chunking
// is checked against the workspace cap.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "cuda_plan.hpp"
#include "fastconv/cuda.hpp"
#include "fastconv/fastconv.hpp"

namespace fastconv::cuda {
namespace {

// What one launch of the implicit GEMM computes, element by element, in double.
void emulate(const ImplicitParams& p, int batch, int groups, const std::vector<double>& src,
             const std::vector<double>& w, const std::vector<double>& bias, std::vector<double>& dst,
             std::vector<int>& writes) {
    for (int g = 0; g < groups; ++g)
        for (int64_t m = 0; m < int64_t(batch) * p.Q; ++m) {
            const int n = int(m / p.Q), q = int(m % p.Q);
            const int qi[3] = {q / (p.q_size[2] * p.q_size[1]), q / p.q_size[2] % p.q_size[1], q % p.q_size[2]};
            for (int co = 0; co < p.dst_cpg; ++co) {
                double acc = bias[size_t(g * p.dst_cpg + co)];
                for (int ci = 0; ci < p.src_cpg; ++ci)
                    for (int t = 0; t < p.taps; ++t) {
                        const int ti[3] = {t / (p.t_count[2] * p.t_count[1]), t / p.t_count[2] % p.t_count[1],
                                           t % p.t_count[2]};
                        int s[3], r[3];
                        bool inside = true;
                        for (int d = 0; d < 3; ++d) {
                            s[d] = qi[d] * p.q_mul[d] + p.src_off[d] + ti[d] * p.t_mul[d];
                            r[d] = p.r0[d] + ti[d] * p.r_step[d];
                            inside = inside && s[d] >= 0 && s[d] < p.src_size[d];
                            EXPECT_TRUE(r[d] >= 0 && r[d] < p.ker[d]);
                        }
                        if (!inside) continue;
                        const double a = src[size_t((int64_t(n) * p.src_channels + g * p.src_cpg + ci) * p.src_spatial +
                                                    (int64_t(s[0]) * p.src_size[1] + s[1]) * p.src_size[2] + s[2])];
                        const double b = w[size_t(g * p.w_group + ci * p.w_ci + co * p.w_co +
                                                  (int64_t(r[0]) * p.ker[1] + r[1]) * p.ker[2] + r[2])];
                        acc += a * b;
                    }
                int pos[3];
                for (int d = 0; d < 3; ++d) {
                    pos[d] = qi[d] * p.dst_mul[d] + p.dst_off[d];
                    ASSERT_TRUE(pos[d] >= 0 && pos[d] < p.dst_size[d]);
                }
                const size_t e = size_t((int64_t(n) * p.dst_channels + g * p.dst_cpg + co) * p.dst_spatial +
                                        (int64_t(pos[0]) * p.dst_size[1] + pos[1]) * p.dst_size[2] + pos[2]);
                dst[e] = acc;
                ++writes[e];
            }
        }
}

TEST(CudaPlan, ImplicitGemmLaunchesReproduceTheReference) {
    std::mt19937 rng(12345);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    int checked = 0;
    for (int trial = 0; trial < 400; ++trial) {
        const bool transposed = trial % 2 == 1;
        const int ndim = pick(1, 3), groups = pick(1, 2);
        const int cpg = pick(1, 3), kpg = pick(1, 3);
        ConvParams params;
        params.groups = groups;
        std::vector<int64_t> x_shape{pick(1, 2), transposed ? int64_t(kpg) * groups : int64_t(cpg) * groups};
        std::vector<int64_t> w_shape = transposed ? std::vector<int64_t>{int64_t(kpg) * groups, cpg}
                                                  : std::vector<int64_t>{int64_t(kpg) * groups, cpg};
        for (int d = 0; d < ndim; ++d) {
            const int k = pick(1, 4), s = pick(1, 3), dil = pick(1, 3);
            params.stride.push_back(s);
            params.dilation.push_back(dil);
            params.pad_before.push_back(pick(0, dil * (k - 1)));
            params.pad_after.push_back(pick(0, dil * (k - 1)));
            if (transposed) params.output_padding.push_back(pick(0, std::max(s, dil) - 1));
            x_shape.push_back(pick(1, 6));
            w_shape.push_back(k);
        }
        ConvProblem problem;
        try {
            problem = transposed ? make_conv_transpose_problem(DType::f64, x_shape, w_shape, params)
                                 : make_conv_problem(DType::f64, x_shape, w_shape, params);
        } catch (const InvalidArgument&) {
            continue;  // an empty output
        }
        SCOPED_TRACE(problem.describe());
        std::uniform_real_distribution<double> value(-1.0, 1.0);
        std::vector<double> src(size_t(problem.src_elements())), w(size_t(problem.weight_elements())),
            bias(size_t(problem.dst_channels()));
        for (auto* v : {&src, &w, &bias})
            for (double& e : *v) e = value(rng);
        std::vector<double> expected(size_t(problem.dst_elements()));
        run_conv(problem, Algo::reference, src.data(), w.data(), bias.data(), expected.data());
        const ConvGeometry g = geometry_of(problem);
        std::vector<double> got(expected.size(), std::nan(""));
        std::vector<int> writes(expected.size(), 0);
        const auto launches = implicit_gemm_plan(g, transposed);
        if (!transposed) EXPECT_EQ(launches.size(), 1u);
        for (const ImplicitParams& p : launches) emulate(p, g.N, g.G, src, w, bias, got, writes);
        for (size_t e = 0; e < got.size(); ++e) {
            ASSERT_EQ(writes[e], 1) << "element " << e << " written " << writes[e] << " times";
            ASSERT_NEAR(got[e], expected[e], 1e-12) << "element " << e;
        }
        ++checked;
    }
    EXPECT_GT(checked, 300);
}

TEST(CudaPlan, ColumnChunksStayUnderTheCapInWholeRows) {
    const std::size_t cap = kWorkspaceCapBytes;
    // 64 channels x 9 taps x 256 x 256 float32 pixels: 151 MiB of columns, so chunked.
    ColumnChunk chunk = column_chunk(576, 65536, 256, 4, cap);
    EXPECT_LT(chunk.pixels, 65536);
    EXPECT_EQ(chunk.pixels % 256, 0);
    EXPECT_EQ(chunk.ld % 4, 0);
    EXPECT_LE(std::size_t(576 * chunk.ld * 4), cap);
    // Small layers take the whole image in one chunk.
    chunk = column_chunk(27, 1000, 40, 8, cap);
    EXPECT_EQ(chunk.pixels, 1000);
    EXPECT_EQ(chunk.ld, 1000);
    chunk = column_chunk(3, 5, 5, 4, cap);
    EXPECT_EQ(chunk.pixels, 5);
    EXPECT_EQ(chunk.ld, 8);
    // Rows wider than a chunk: chunks of whole multiples of 4 columns, still under the cap.
    chunk = column_chunk(1 << 20, 1 << 20, 1 << 20, 4, cap);
    EXPECT_GE(chunk.pixels, 1);
    EXPECT_LE(std::size_t(1 << 20) * std::size_t(chunk.ld) * 4, cap);
}

TEST(CudaPlan, SplitKFillsTheGpuOnlyWhereTilesAreFew) {
    const std::size_t cap = kWorkspaceCapBytes;
    // resnet_3x3_7 as im2col + GEMM: M = 49, N = 512 -> 1 x 8 tiles of 128 x 64, K = 4608.
    SplitK plan = split_k_plan(8, 1, 4608, 8, 49 * 512 * 4, cap);
    EXPECT_EQ(plan.splits, 32);
    EXPECT_EQ(plan.k_chunk, 144);
    // Enough tiles already, or too little K to share: no split.
    EXPECT_EQ(split_k_plan(392, 1, 576, 8, 4, cap).splits, 1);
    EXPECT_EQ(split_k_plan(8, 1, 64, 8, 4, cap).splits, 1);
    EXPECT_EQ(split_k_plan(8, 1, 248, 8, 4, cap).splits, 1);  // 31 steps: not two splits of 16
    EXPECT_EQ(split_k_plan(8, 1, 256, 8, 4, cap).splits, 2);
    EXPECT_EQ(split_k_plan(8, 1, 0, 8, 4, cap).splits, 1);
    // The invariants over a sweep: whole steps, every split non-empty, K covered, caps respected.
    for (int64_t tiles : {1, 2, 7, 33, 100, 263})
        for (int64_t batches : {1, 3, 4096})
            for (int64_t K : {1, 8, 127, 128, 129, 1000, 4608, 100000})
                for (int64_t bytes : {int64_t(4), int64_t(1) << 20, int64_t(40) << 20}) {
                    plan = split_k_plan(tiles, batches, K, 8, bytes, cap);
                    ASSERT_GE(plan.splits, 1);
                    ASSERT_EQ(plan.k_chunk % 8, 0);
                    ASSERT_GE(plan.splits * plan.k_chunk, K);
                    if (plan.splits > 1) {
                        ASSERT_LT((plan.splits - 1) * plan.k_chunk, K) << "an empty split";
                        ASSERT_GE(plan.k_chunk, kSplitKMinSteps * 8);
                        ASSERT_LE(plan.splits, kSplitKMaxSplits);
                        ASSERT_LE(plan.splits * batches, 65535);
                        ASSERT_LE(std::size_t(plan.splits * bytes), cap);
                        ASSERT_LT(tiles, kSplitKTargetBlocks);
                    }
                }
}

TEST(CudaPlan, GeometryRejectsExtentsPast32Bits) {
    ConvParams params{{1}, {1}, {0}, {0}, {}, 1};
    const ConvProblem big = make_conv_problem(DType::f32, {1, 3, int64_t(1) << 31}, {1, 3, 1}, params);
    EXPECT_THROW(geometry_of(big), InvalidArgument);
}

}  // namespace
}  // namespace fastconv::cuda
