// Direct convolution on channels-first memory (NCHW, and NCW / NCDHW), float32, forward, unit
// stride along the width: the convchw microkernels (convchw/convchw.hpp) compute tiles of output
// channels x pixels of one output row, reading the input rows in place and masking padding
// columns, so the only memory besides x and y is the packed weights. It serves grouped layers
// whose groups are too thin to fill igemm's channel vectors (8 channels per group still fill
// every lane here, since lanes run along the row); with wide groups igemm wins, see the declines.
//
// Each task is one (image, group, chunk of output rows); every element is summed in
// (channel, kernel row, kernel column) order by one microkernel call, so results do not depend
// on the thread count.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <vector>

#include "convchw/convchw.hpp"
#include "registry.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/workspace.hpp"

namespace fastconv {
namespace {

// A tile that wastes more than this share of its lanes loses to igemm's transposes.
constexpr double kMinEfficiency = 0.6;
constexpr int64_t kMaxChannelsPerGroup = 16;

// Weights packed by convchw::pack_channel_blocks.
struct PackedChw {
    const convchw::Ukernel* ukernel;
    int64_t blocks;  // channel blocks per group
    OwnedBuffer owned;
    const float* weights;
};

int64_t block_size(const ConvProblem& p, const convchw::Ukernel& k) { return convchw::packed_block_floats(p, k.kb); }

std::shared_ptr<PackedChw> pack_with(const convchw::Ukernel& k, const ConvProblem& p, const float* w, bool use_scratch) {
    auto packed = std::make_shared<PackedChw>();
    packed->ukernel = &k;
    packed->blocks = (p.out_channels_per_group() + k.kb - 1) / k.kb;
    const int64_t elements = p.groups * packed->blocks * block_size(p, k);
    float* data = static_cast<float*>(
        packed_buffer(static_cast<size_t>(elements) * sizeof(float), use_scratch, packed->owned));
    convchw::pack_channel_blocks(p, k.kb, w, data);
    packed->weights = data;
    return packed;
}

void run_packed_impl(const ConvProblem& p, const ConvArgs& args, const void* packed) {
    const PackedChw& pw = *static_cast<const PackedChw*>(packed);
    const convchw::Ukernel& k = *pw.ukernel;
    const float* x = static_cast<const float*>(args.src);
    const float* bias = static_cast<const float*>(args.bias);
    float* y = static_cast<float*>(args.dst);
    const int64_t Kg = p.out_channels_per_group(), Cg = p.in_channels_per_group();
    const Dims &I = p.in_size, &O = p.out_size;
    const int64_t out_rows = O[0] * O[1], kernel_rows = p.kernel[0] * p.kernel[1];
    // The channels of one kernel call: few enough that the input rows a tile reads (channels x
    // kernel rows x the tile's span in cache lines) stay within about a third of L1 next to the
    // weights and the output tile. Later chunks continue the same FMA chains from y (exact).
    const int64_t span_lines = (k.pixels + (p.kernel[2] - 1) * p.dilation[2]) / 16 + 2;
    const int64_t chunk_channels = std::max<int64_t>(1, (16 << 10) / (kernel_rows * span_lines * 64));
    // Tasks: image x group x chunk of output rows. Inside, each tile of pixels runs every channel
    // block back to back: the tile's input (channels x kernel rows x a few dozen columns) stays in
    // L1 across the blocks, where a block-outer order would stream the whole image once per block.
    const int64_t outer = p.batch * p.groups;
    const int64_t threads = ThreadPool::instance().num_threads();
    const int64_t rows_per_task = std::max<int64_t>(1, std::min<int64_t>(4, outer * out_rows / (8 * threads)));
    const int64_t row_chunks = (out_rows + rows_per_task - 1) / rows_per_task;
    parallel_for(outer * row_chunks, [&](int64_t task) {
        const int64_t chunk = task % row_chunks, g = task / row_chunks % p.groups, n = task / row_chunks / p.groups;
        int64_t* rows = scratch<int64_t>(ScratchSlot::columns, kernel_rows);
        convchw::TileArgs t{};
        const float* x_group = x + (n * p.in_channels + g * Cg) * p.in_spatial();
        t.x_stride = p.in_spatial();
        t.rows = rows;
        t.kh = kernel_rows;
        t.kw = p.kernel[2];
        t.dw = p.dilation[2];
        t.in_width = I[2];
        t.y_stride = p.out_spatial();
        const float* w_group = pw.weights + g * pw.blocks * block_size(p, k);
        float* y_group = y + (n * p.out_channels + g * Kg) * p.out_spatial();
        for (int64_t row = chunk * rows_per_task; row < std::min(out_rows, (chunk + 1) * rows_per_task); ++row) {
            const int64_t od = row / O[1], oh = row % O[1];
            for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
                const int64_t id = od * p.stride[0] - p.pad_before[0] + kd * p.dilation[0];
                for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
                    const int64_t ih = oh * p.stride[1] - p.pad_before[1] + kh * p.dilation[1];
                    const bool inside = id >= 0 && id < I[0] && ih >= 0 && ih < I[1];
                    rows[kd * p.kernel[1] + kh] = inside ? (id * I[1] + ih) * I[2] : -1;
                }
            }
            for (int64_t ow = 0; ow < O[2]; ow += k.pixels) {
                t.col = ow - p.pad_before[2];
                t.width = std::min<int64_t>(k.pixels, O[2] - ow);
                for (int64_t c0 = 0; c0 < Cg; c0 += chunk_channels) {
                    t.x = x_group + c0 * p.in_spatial();
                    t.channels = std::min(chunk_channels, Cg - c0);
                    t.accumulate = c0 > 0;
                    for (int64_t b = 0; b < pw.blocks; ++b) {
                        t.w = w_group + b * block_size(p, k) + c0 * kernel_rows * p.kernel[2] * k.kb;
                        t.bias = bias ? bias + g * Kg + b * k.kb : nullptr;
                        t.kb = std::min<int64_t>(k.kb, Kg - b * k.kb);
                        t.y = y_group + b * k.kb * p.out_spatial() + row * O[2] + ow;
                        k.fn(t);
                    }
                }
            }
        }
    });
}

const convchw::Ukernel& choose_ukernel(const ConvProblem& p) {
    return convchw::choose(p.out_channels_per_group(), p.out_size[2]);
}

std::shared_ptr<const void> pack_impl(const ConvProblem& p, const void* weight) {
    return pack_with(choose_ukernel(p), p, static_cast<const float*>(weight), false);
}

void run_impl(const ConvProblem& p, const ConvArgs& args) {
    run_packed_impl(p, args, pack_with(choose_ukernel(p), p, static_cast<const float*>(args.weight), true).get());
}

std::string declines_direct_chw(const ConvProblem& p) {
    if (p.kind != ConvKind::forward) return "handles forward convolutions only";
    if (p.dtype != DType::f32) return "float32 only";
    if (p.layout != Layout::channels_first) return "needs channels-first (N, C, spatial...) memory";
    if (p.stride[2] != 1) return "needs stride 1 along the width (a strided row is not a vector load)";
    if (p.kernel[2] > convchw::kMaxKernelWidth) return "kernel wider than 32 columns";
    // Its tiles broadcast one weight per output channel and step; with many channels per group
    // igemm's channels-last tiles (transposes included) measured 1.6-1.8x faster on the resnet
    // 3x3 layers, so this kernel is for the thin groups that leave igemm's channel lanes idle.
    if (p.out_channels_per_group() > kMaxChannelsPerGroup)
        return "more than 16 output channels per group (igemm's channels-last tiles are faster there)";
    const convchw::Ukernel& k = choose_ukernel(p);
    if (convchw::efficiency(k, p.out_channels_per_group(), p.out_size[2]) < kMinEfficiency)
        return "output rows or channel groups too short for its tiles (most vector lanes would idle)";
    return {};
}

}  // namespace

const ConvImpl direct_chw_impl{"direct_chw", Algo::direct, declines_direct_chw, run_impl, pack_impl, run_packed_impl};

namespace convchw {
// Runs one problem with an explicit microkernel, so tests can check every compiled ISA variant.
void run_with(const Ukernel& ukernel, const ConvProblem& p, const ConvArgs& args) {
    run_packed_impl(p, args, pack_with(ukernel, p, static_cast<const float*>(args.weight), false).get());
}
}  // namespace convchw

}  // namespace fastconv
