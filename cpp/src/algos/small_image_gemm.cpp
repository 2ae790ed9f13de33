// Convolution of small images with many channels (the last stages of a CNN: 7x7 x 512) as the GEMM
// y (K x P) = W (K x C*R*S) * columns (C*R*S x P) per image and group, with the roles of the
// operands chosen so that nothing large is ever repacked. There the weights dwarf the image
// (resnet_3x3_7: 9.4 MB of weights, 0.1 MB of input), so:
// - the columns are built by im2col straight into the layout the igemm microkernel takes as its
//   packed operand (NR output pixels per reduction index), a few hundred KB per image;
// - the weights are the microkernel's row operand, read in place: each of its MR rows is one
//   output channel's filter, a contiguous run of C*R*S floats it streams once;
// - each MR x NR tile is MR output channels x NR pixels of an NCHW output row, written directly.
// Weight-stationary paths (igemm, im2col_gemm) pack or stream the weights once per NR output
// channels instead; here the whole weight tensor is read once per call, a sequential stream the
// hardware prefetchers follow, overlapping the FMAs.
//
// Tasks take chunks of MR-row tiles of one image and group, so each output element is written by
// one microkernel call summing its terms in a fixed order, whatever the thread count. The bias is
// per output channel, a row of the tile, so it is added after the call. The caller's scratch holds
// the shared columns and zero row; tasks use only the GEMM-A slot, for their im2col block.
#include <algorithm>

#include "igemm/igemm.hpp"
#include "im2col.hpp"
#include "registry.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/workspace.hpp"

namespace fastconv {
namespace {

constexpr int64_t kMaxPixels = 64;         // output pixels per image: a few NR-wide slivers
constexpr int64_t kMinOutputChannels = 64;  // per group, so the weights outweigh the columns

void run_with_ukernel(const igemm::Ukernel& ukernel, const ConvProblem& p, const ConvArgs& args) {
    const float* x = static_cast<const float*>(args.src);
    const float* w = static_cast<const float*>(args.weight);
    const float* bias = static_cast<const float*>(args.bias);
    float* y = static_cast<float*>(args.dst);
    const int64_t MR = ukernel.mr, NR = ukernel.nr;
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group();
    const int64_t P = p.out_spatial(), X = p.in_spatial(), depth = p.gemm_k();
    const int64_t slivers = (P + NR - 1) / NR, tiles = (Kg + MR - 1) / MR, taps = p.kernel_spatial();
    constexpr int64_t kChannelBlock = 32;
    const int64_t channel_blocks = (Cg + kChannelBlock - 1) / kChannelBlock;
    if (P == 0 || Kg == 0) return;
    // The caller's slots, shared by the tasks (which write disjoint rows of `columns`).
    float* columns = scratch<float>(ScratchSlot::columns, slivers * std::max<int64_t>(depth, 1) * NR);
    float* zero = scratch<float>(ScratchSlot::accumulators, std::max<int64_t>(depth, 1));
    std::fill_n(zero, std::max<int64_t>(depth, 1), 0.0f);
    const int64_t threads = ThreadPool::instance().num_threads();
    const int64_t tiles_per_task = std::max<int64_t>(1, tiles / (4 * threads));
    const int64_t tasks = (tiles + tiles_per_task - 1) / tiles_per_task;

    for (int64_t n = 0; n < p.batch; ++n)
        for (int64_t g = 0; g < p.groups; ++g) {
            const float* x_group = x + (n * p.in_channels + g * Cg) * X;
            // im2col over the whole image, a block of channels per task (one run per output row and
            // tap; per sliver, a 16-pixel range crosses rows and makes three times as many), then
            // each reduction index's pixels are dealt out to the slivers.
            parallel_for(channel_blocks, [&](int64_t block) {
                const int64_t c0 = block * kChannelBlock, channels = std::min(Cg, c0 + kChannelBlock) - c0;
                const int64_t rows = channels * taps;
                float* image_columns = scratch<float>(ScratchSlot::gemm_a, rows * P);
                im2col(p, x_group + c0 * X, channels, 0, P, image_columns, P);
                for (int64_t s = 0; s < slivers; ++s) {
                    const int64_t begin = s * NR, count = std::min(P, begin + NR) - begin;
                    float* sliver = columns + (s * depth + c0 * taps) * NR;
                    for (int64_t q = 0; q < rows; ++q) {
                        std::copy_n(image_columns + q * P + begin, count, sliver + q * NR);
                        std::fill(sliver + q * NR + count, sliver + (q + 1) * NR, 0.0f);
                    }
                }
            });
            parallel_for(tasks, [&](int64_t task) {
                const float* a[16];
                float* c[16];
                for (int64_t tile = task * tiles_per_task; tile < std::min(tiles, (task + 1) * tiles_per_task); ++tile) {
                    const int64_t k0 = g * Kg + tile * MR, mr = std::min(MR, g * Kg + Kg - k0);
                    for (int64_t i = 0; i < MR; ++i) a[i] = i < mr ? w + (k0 + i) * depth : zero;
                    float* y_rows = y + (n * p.out_channels + k0) * P;
                    for (int64_t s = 0; s < slivers; ++s) {
                        for (int64_t i = 0; i < mr; ++i) c[i] = y_rows + i * P + s * NR;
                        ukernel.fn(mr, std::min(NR, P - s * NR), depth, 1, a, 0, columns + s * depth * NR,
                                   nullptr, c);
                    }
                    if (bias)
                        for (int64_t i = 0; i < mr; ++i)
                            for (int64_t j = 0; j < P; ++j) y_rows[i * P + j] += bias[k0 + i];
                }
            });
        }
}

void run(const ConvProblem& p, const ConvArgs& args) { run_with_ukernel(igemm::active_ukernel(), p, args); }

std::string declines(const ConvProblem& p) {
    if (p.kind != ConvKind::forward) return "handles forward convolutions only";
    if (p.dtype != DType::f32) return "float32 only";
    if (igemm::active_ukernel().mr > 16) return "microkernel tile taller than 16 rows";
    if (p.out_spatial() > kMaxPixels) return "needs at most 64 output pixels per image (weights outweighing the image)";
    if (p.out_channels_per_group() < kMinOutputChannels) return "needs at least 64 output channels per group";
    return needs_channels_first(p);
}

}  // namespace

const ConvImpl small_image_gemm_impl{"small_image_gemm", Algo::im2col, declines, run};

namespace small_image {
void run_with(const igemm::Ukernel& ukernel, const ConvProblem& p, const ConvArgs& args) {
    run_with_ukernel(ukernel, p, args);
}
}  // namespace small_image

}  // namespace fastconv
