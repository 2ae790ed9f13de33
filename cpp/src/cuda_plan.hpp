// The host-side planning of the CUDA kernels, in plain C++ so it compiles (and is tested by ctest)
// without CUDA: the problem in 32-bit launch terms (ConvGeometry), the implicit-GEMM launches
// (one forward, or one per residue class of the transposed op's stride decomposition), the
// column-buffer chunking that keeps the explicit im2col paths under the workspace cap, and the
// GEMM's split-K.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fastconv/problem.hpp"

namespace fastconv::cuda {

// The forward view of problem.hpp with its three right-aligned spatial slots.
struct ConvGeometry {
    int N, C, K, G, Cg, Kg;
    int in[3], out[3], ker[3], stride[3], dil[3], pad[3];
    int taps;  // prod(ker)
    int64_t in_spatial, out_spatial;
};
ConvGeometry geometry_of(const ConvProblem& problem);  // throws InvalidArgument past 32-bit extents

// One implicit-GEMM launch: M = batch * Q destination pixels, N = dst_cpg channels,
// K = src_cpg * taps, batched over groups. Destination pixel q (a 3-D index into q_size) sits at
// q * dst_mul + dst_off; its tap t (a 3-D index into t_count) reads source position
// q * q_mul + src_off + t * t_mul (zero outside src_size) and weight tap r0 + t * r_step;
// weight element (source channel ci, destination channel co) of group g is at
// g * w_group + ci * w_ci + co * w_co + tap offset.
struct ImplicitParams {
    int src_channels, dst_channels, src_cpg, dst_cpg;
    int src_size[3], dst_size[3], q_size[3];
    int q_mul[3], src_off[3], t_mul[3], t_count[3];
    int dst_mul[3], dst_off[3];
    int r0[3], r_step[3], ker[3];
    int Q, taps;  // prod(q_size), prod(t_count)
    int64_t src_spatial, dst_spatial, w_group, w_ci, w_co;
};
// Forward: one launch. Transposed: one per residue class (i + pad) mod stride of the x positions
// that has any (classes no tap reaches have taps == 0: their pixels get only the bias).
std::vector<ImplicitParams> implicit_gemm_plan(const ConvGeometry& g, bool transposed);

// Column-buffer chunking of the explicit paths: `pixels` output pixels per chunk (whole output rows
// when a chunk is smaller than the image) with leading dimension `ld` (a multiple of 4, for 128-bit
// loads), so rows * ld * element_size stays within cap_bytes whenever one row of 4 columns does.
struct ColumnChunk {
    int64_t pixels;
    int64_t ld;
};
ColumnChunk column_chunk(int64_t rows, int64_t total_pixels, int64_t row_width, std::size_t element_size,
                         std::size_t cap_bytes);

// Split-K of one GEMM launch. When its tiles (M x N tiles times batches) would leave most of a
// GPU's multiprocessors idle (resnet_3x3_7 as im2col: 8 tiles on 132 SMs), the K range is cut
// into `splits` chunks of `k_chunk` values, a whole number of k_step-wide steps each (the last
// chunk may be shorter), whose partial products go to a workspace and are summed in split order
// by a second kernel: still one fixed reduction order per problem, so results stay bitwise
// deterministic. The targets are constants rather than the device's SM count, so which bits a
// problem gives does not depend on the GPU model. The partial sums (splits x bytes_per_split) stay
// within cap_bytes and splits x batches within a grid's 65535 z-blocks; splits == 1 means no split.
struct SplitK {
    int splits;
    int64_t k_chunk;
};
inline constexpr int64_t kSplitKTargetBlocks = 264;  // two blocks per SM on an H100/H200 (132 SMs)
inline constexpr int64_t kSplitKMinSteps = 16;       // K steps per split, so each block amortises its start
inline constexpr int kSplitKMaxSplits = 32;
SplitK split_k_plan(int64_t tiles, int64_t batches, int64_t K, int k_step, int64_t bytes_per_split,
                    std::size_t cap_bytes);

}  // namespace fastconv::cuda
