// Depthwise convolution (one input and one output channel per group: MobileNet's 3x3 layers),
// float32, forward, 1-D/2-D/3-D, any stride, dilation and padding, through the dwconv
// microkernels (dwconv/dwconv.hpp): on channels-last memory vectorised over channels (one pixel's
// channels are one vector run); on channels-first memory with unit width stride, plane by plane
// vectorised along the rows; other channels-first problems are transposed in and out. A GEMM would have a reduction of only kernel-size terms per output and
// waste its tiles; here each output pixel costs one pointer per tap and two loads per FMA.
//
// Each task is a run of output rows (n, od, oh) of one image; every element is summed in tap
// order by one kernel call, so results do not depend on the thread count.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "dwconv/dwconv.hpp"
#include "layout.hpp"
#include "registry.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/workspace.hpp"

namespace fastconv {
namespace {

// Weights as [tap][channel], so a tap's weights for a vector of channels are contiguous.
struct PackedDepthwise {
    const dwconv::Ukernel* ukernel;
    std::vector<float> weights;
    std::vector<float> raw_weights;  // (C, taps) as given: the channels-first row kernel's layout
};

std::shared_ptr<PackedDepthwise> pack_with(const dwconv::Ukernel& ukernel, const ConvProblem& p, const float* w) {
    auto packed = std::make_shared<PackedDepthwise>();
    packed->ukernel = &ukernel;
    const int64_t C = p.out_channels, taps = p.kernel_spatial();
    packed->weights.resize(static_cast<size_t>(C * taps));
    for (int64_t c = 0; c < C; ++c)
        for (int64_t t = 0; t < taps; ++t) packed->weights[t * C + c] = w[c * taps + t];
    packed->raw_weights.assign(w, w + C * taps);
    return packed;
}

// A problem with no depth to walk: one input and one output plane, read through the kernel's only
// depth tap with no padding before it (2-D and 1-D problems, and 3-D ones that are flat).
bool depth_is_flat(const ConvProblem& p) {
    return p.in_size[0] == 1 && p.out_size[0] == 1 && p.kernel[0] == 1 && p.pad_before[0] == 0;
}

void run_channels_last(const ConvProblem& p, const PackedDepthwise& pw, const float* x, const float* bias, float* y) {
    const int64_t C = p.in_channels, taps = p.kernel_spatial();
    const Dims &I = p.in_size, &O = p.out_size;
    const int64_t rows = O[0] * O[1];
    // 2-D 3x3 windows with unit stride and dilation along the width (MobileNet's stride-1 layers)
    // take four pixels per kernel call; see dwconv.hpp.
    const bool four_pixels = depth_is_flat(p) && p.kernel[1] == 3 && p.kernel[2] == 3 &&
                             p.stride[2] == 1 && p.dilation[2] == 1;
    // Each task takes a run of consecutive output rows, two runs per thread. Neighbouring output
    // rows share input rows (two of a 3x3 window's three); with one row per task the threads took
    // rows in turn and each core read nearly every input row (depthwise_3x3 channels-last at 2
    // threads on the AVX-512 Xeon VM: 0.189 -> 0.170 ms, medians).
    const int64_t threads = ThreadPool::instance().num_threads();
    const int64_t per_task = std::max<int64_t>(1, std::min(rows, p.batch * rows / (2 * threads)));
    const int64_t tasks_per_image = (rows + per_task - 1) / per_task;
    // An output too large for the caches is written with non-temporal stores, which need no read
    // for ownership of its lines (depthwise_3x3 channels-last, 3.2 MB: 5-10% faster on Zen 4,
    // pinned alternated processes); the four-pixel kernel may use them only on whole, aligned
    // vectors (dwconv.hpp).
    const bool stream = four_pixels && writes_to_memory(p.dst_elements() * int64_t{sizeof(float)}) &&
                        reinterpret_cast<uintptr_t>(y) % 64 == 0 && C % 16 == 0;
    parallel_for(p.batch * tasks_per_image, [&](int64_t task) {
        const int64_t n = task / tasks_per_image, first = task % tasks_per_image * per_task;
        float* zero = scratch<float>(ScratchSlot::accumulators, C);
        std::fill_n(zero, C, 0.0f);
        const float** a = static_cast<const float**>(
            scratch_bytes(ScratchSlot::columns, static_cast<size_t>(taps) * sizeof(float*)));
        const float* x_image = x + n * p.in_spatial() * C;
        for (int64_t row = first; row < std::min(rows, first + per_task); ++row) {
            const int64_t od = row / O[1], oh = row % O[1];
            float* y_row = y + ((n * O[0] + od) * O[1] + oh) * O[2] * C;
            int64_t ow = 0;
            if (four_pixels) {
                // Four pixels of a 3x3 window read six columns of each of the three input rows.
                const float* cols[18];
                for (; ow + 4 <= O[2]; ow += 4) {
                    for (int64_t r = 0; r < 3; ++r) {
                        const int64_t ih = oh * p.stride[1] - p.pad_before[1] + r * p.dilation[1];
                        const bool row_valid = ih >= 0 && ih < I[1];
                        for (int64_t j = 0; j < 6; ++j) {
                            const int64_t iw = ow - p.pad_before[2] + j;
                            cols[r * 6 + j] = row_valid && iw >= 0 && iw < I[2] ? x_image + (ih * I[2] + iw) * C : zero;
                        }
                    }
                    pw.ukernel->rows4_fn(C, cols, pw.weights.data(), bias, y_row + ow * C, stream);
                }
            }
            for (; ow < O[2]; ++ow) {
                int64_t t = 0;
                for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
                    const int64_t id = od * p.stride[0] - p.pad_before[0] + kd * p.dilation[0];
                    for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
                        const int64_t ih = oh * p.stride[1] - p.pad_before[1] + kh * p.dilation[1];
                        const bool row_valid = id >= 0 && id < I[0] && ih >= 0 && ih < I[1];
                        for (int64_t kw = 0; kw < p.kernel[2]; ++kw, ++t) {
                            const int64_t iw = ow * p.stride[2] - p.pad_before[2] + kw * p.dilation[2];
                            a[t] = row_valid && iw >= 0 && iw < I[2] ? x_image + ((id * I[1] + ih) * I[2] + iw) * C : zero;
                        }
                    }
                }
                pw.ukernel->fn(C, taps, a, pw.weights.data(), bias, y_row + ow * C);
            }
        }
        if (stream) fence_streaming_stores();
    });
}

// The tallest kernel run_planes takes (its row pointers live on the stack).
constexpr int64_t kMaxPlaneKernelRows = 64;

// Channels-first 2-D (and 1-D) with unit stride along the width: each task pads one channel's
// plane into an L1-sized scratch copy and runs the row kernel, vectorised along the width, so
// the data is read once and written once (no layout transposes of a memory-bound layer).
// Not when the padding dwarfs the plane (padding 2^40 with stride 2^40 would make the padded copy
// that large, or overflow its size): the channels-last path points padded taps at a zero row.
bool runs_planes(const ConvProblem& p) {
    const double padded = static_cast<double>(p.in_size[1] + p.pad_before[1] + p.pad_after[1]) *
                          static_cast<double>(p.in_size[2] + p.pad_before[2] + p.pad_after[2] + 32);
    const double planes = static_cast<double>(p.in_spatial() + p.out_spatial());
    return p.layout == Layout::channels_first && depth_is_flat(p) && p.stride[2] == 1 && padded <= 4 * planes + 65536;
}

void run_planes(const ConvProblem& p, const PackedDepthwise& pw, const float* w, const float* x, const float* bias,
                float* y) {
    const int64_t IH = p.in_size[1], IW = p.in_size[2], OH = p.out_size[1], OW = p.out_size[2];
    const int64_t KH = p.kernel[1], KW = p.kernel[2], taps = KH * KW;
    // Padded plane: every row the kernel reads, plus zeros wide enough for the last vector's taps.
    const int64_t top = p.pad_before[1], left = p.pad_before[2];
    const int64_t PH = std::max(IH + top, (OH - 1) * p.stride[1] + (KH - 1) * p.dilation[1] + 1);
    const int64_t PW = std::max(IW + left, OW + (KW - 1) * p.dilation[2]) + 32;
    // A task runs a run of planes through one padded copy. Every plane puts its values in the same
    // places, so the zeros around them (40% of the plane for depthwise_3x3) are written once per
    // task, not once per plane: per plane, their memsets were 7% of the layer.
    const int64_t planes = p.batch * p.out_channels;
    const int64_t threads = ThreadPool::instance().num_threads();
    const int64_t per_task = std::max<int64_t>(1, std::min<int64_t>(16, planes / (4 * threads)));
    parallel_for((planes + per_task - 1) / per_task, [&](int64_t task) {
        // Not a layout slot: those may hold the call's channels-first copies (through_transposed_copies).
        float* plane = scratch<float>(ScratchSlot::columns, PH * PW);
        std::fill_n(plane, top * PW, 0.0f);
        for (int64_t ih = 0; ih < IH; ++ih) {
            float* row = plane + (top + ih) * PW;
            std::fill_n(row, left, 0.0f);
            std::fill(row + left + IW, row + PW, 0.0f);
        }
        std::fill(plane + (top + IH) * PW, plane + PH * PW, 0.0f);
        // Output rows in pairs where consecutive rows read overlapping input rows (see dwconv.hpp).
        const bool pairs = p.stride[1] == 1 && p.dilation[1] == 1;
        const float* rows[kMaxPlaneKernelRows + 1];
        for (int64_t nc = task * per_task; nc < std::min(planes, (task + 1) * per_task); ++nc) {
            const int64_t c = nc % p.out_channels;
            const float* x_plane = x + nc * p.in_spatial();
            for (int64_t ih = 0; ih < IH; ++ih) std::copy_n(x_plane + ih * IW, IW, plane + (top + ih) * PW + left);
            float* y_plane = y + nc * p.out_spatial();
            for (int64_t oh = 0; oh < OH; oh += pairs ? 2 : 1) {
                const bool pair = pairs && oh + 1 < OH;
                for (int64_t r = 0; r < KH + pair; ++r) rows[r] = plane + (oh * p.stride[1] + r * p.dilation[1]) * PW;
                pw.ukernel->row_fn(OW, KH, KW, p.dilation[2], rows, w + c * taps, bias ? bias[c] : 0.0f, y_plane + oh * OW,
                                   pair ? y_plane + (oh + 1) * OW : nullptr);
            }
        }
    });
}

void run_packed_impl(const ConvProblem& p, const ConvArgs& args, const void* packed) {
    const PackedDepthwise& pw = *static_cast<const PackedDepthwise*>(packed);
    const float* x = static_cast<const float*>(args.src);
    const float* bias = static_cast<const float*>(args.bias);
    float* y = static_cast<float*>(args.dst);
    if (p.layout == Layout::channels_last) {
        run_channels_last(p, pw, x, bias, y);
        return;
    }
    if (runs_planes(p) && p.kernel[1] <= kMaxPlaneKernelRows) {
        run_planes(p, pw, pw.raw_weights.data(), x, bias, y);
        return;
    }
    through_transposed_copies(x, y, p.batch, p.in_channels, p.in_spatial(), p.out_spatial(), p.out_channels,
                              [&](const float* x_last, float* y_last) {
                                  run_channels_last(p, pw, x_last, bias, y_last);
                              });
}

std::shared_ptr<const void> pack_impl(const ConvProblem& p, const void* weight) {
    return pack_with(dwconv::active_ukernel(), p, static_cast<const float*>(weight));
}

void run_impl(const ConvProblem& p, const ConvArgs& args) { run_packed_impl(p, args, pack_impl(p, args.weight).get()); }

std::string declines_depthwise(const ConvProblem& p) {
    if (p.kind != ConvKind::forward) return "handles forward convolutions only";
    if (p.dtype != DType::f32) return "float32 only";
    if (p.in_channels_per_group() != 1 || p.out_channels_per_group() != 1)
        return "needs one input and one output channel per group (depthwise, multiplier 1)";
    return {};
}

}  // namespace

const ConvImpl depthwise_impl{"depthwise", Algo::direct, declines_depthwise, run_impl, pack_impl, run_packed_impl};

namespace dwconv {
void run_with(const Ukernel& ukernel, const ConvProblem& p, const ConvArgs& args) {
    run_packed_impl(p, args, pack_with(ukernel, p, static_cast<const float*>(args.weight)).get());
}
}  // namespace dwconv

}  // namespace fastconv
