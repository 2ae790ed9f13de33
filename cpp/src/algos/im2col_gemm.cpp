// Convolution as GEMM (CUTLASS's terms per image and group: M = K/groups output channels, N = output
// positions, K = C/groups * prod(kernel)).
//
// Forward: each task takes one image, one group and a chunk of output positions, writes that chunk's
// column matrix into a per-thread buffer of at most kColumnBudget bytes (so the workspace stays
// L2-sized whatever the layer) and multiplies the group's weights by it straight into y. Pointwise
// layers (1x1, stride 1, no padding) skip im2col: x already is the column matrix.
//
// Transposed (GEMM + col2im): each task takes one image, one group and a block of x's channels,
// computes those channels' rows of the column matrix, W^T y, chunk by chunk and folds them into x.
// Tasks own disjoint channels of x, so there are no atomics and no races.
//
// The chunk lengths depend only on the problem, never on the thread count, so each element's terms
// are always summed in the same order: bitwise identical results for any number of threads.
#include <algorithm>

#include "gemm/gemm.hpp"
#include "im2col.hpp"
#include "layout.hpp"
#include "registry.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/workspace.hpp"

namespace fastconv {
namespace {

constexpr int64_t kColumnBudget = 1 << 20;  // bytes of column buffer per thread: half this L2
constexpr int64_t kChunkAlign = 16;

bool is_pointwise(const ConvProblem& p) { return is_unpadded_1x1(p) && is_unit_stride(p); }

// Output positions per chunk so that rows x chunk elements of T fit the budget.
int64_t chunk_length(int64_t rows, int64_t positions, int64_t element_size) {
    int64_t length = kColumnBudget / (std::max<int64_t>(rows, 1) * element_size);
    length = std::max(kChunkAlign, length / kChunkAlign * kChunkAlign);
    return std::min(length, std::max<int64_t>(positions, 1));
}

// Splits the positions further when images x groups alone cannot keep every thread busy. Uses the
// pool size, so it only moves chunk boundaries of the forward path, where they do not change sums.
int64_t split_for_threads(int64_t length, int64_t positions, int64_t outer_tasks) {
    const int64_t threads = ThreadPool::instance().num_threads();
    if (outer_tasks >= threads) return length;
    const int64_t per_outer = (threads + outer_tasks - 1) / outer_tasks;
    int64_t share = (positions + per_outer - 1) / per_outer;
    share = (share + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
    return std::max<int64_t>(1, std::min(length, share));
}

template <typename T>
void fill_rows(T* dst, int64_t rows, int64_t count, int64_t ld, const T* bias) {
    for (int64_t r = 0; r < rows; ++r) std::fill_n(dst + r * ld, count, bias ? bias[r] : T(0));
}

template <typename T>
void gemm_forward(const ConvProblem& p, const ConvArgs& args) {
    const T* x = static_cast<const T*>(args.src);
    const T* w = static_cast<const T*>(args.weight);
    const T* bias = static_cast<const T*>(args.bias);
    T* y = static_cast<T*>(args.dst);
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group();
    const int64_t P = p.out_spatial(), X = p.in_spatial(), depth = p.gemm_k();
    const bool pointwise = is_pointwise(p);
    const int64_t outer = p.batch * p.groups;
    int64_t length = pointwise ? std::max<int64_t>(P, 1) : chunk_length(depth, P, sizeof(T));
    length = split_for_threads(length, P, outer);
    const int64_t chunks = (P + length - 1) / length;

    parallel_for(outer * chunks, [&](int64_t task) {
        const int64_t chunk = task % chunks, g = (task / chunks) % p.groups, n = task / chunks / p.groups;
        const int64_t begin = chunk * length, count = std::min(P, begin + length) - begin;
        const T* x_group = x + (n * p.in_channels + g * Cg) * X;
        T* y_block = y + (n * p.out_channels + g * Kg) * P + begin;
        gemm::ConstMatrix<T> weights{w + g * Kg * depth, depth, 1};
        gemm::ConstMatrix<T> columns{x_group + begin, X, 1};
        if (!pointwise) {
            T* buffer = scratch<T>(ScratchSlot::columns, depth * count);
            im2col(p, x_group, Cg, begin, begin + count, buffer, count);
            columns = {buffer, count, 1};
        }
        if (bias) fill_rows(y_block, Kg, count, P, bias + g * Kg);
        gemm::gemm<T>(Kg, count, depth, weights, columns, y_block, P, bias != nullptr);
    });
}

// Channels-last pointwise: y (pixels x K) = x (pixels x C) * W^T per group, one GEMM over the
// pixels of every image at once (they are contiguous rows), split into row chunks for the threads.
// The chunking only moves row boundaries, never the K order, so results are thread-independent.
template <typename T>
void gemm_forward_pointwise_nhwc(const ConvProblem& p, const ConvArgs& args) {
    const T* x = static_cast<const T*>(args.src);
    const T* w = static_cast<const T*>(args.weight);
    const T* bias = static_cast<const T*>(args.bias);
    T* y = static_cast<T*>(args.dst);
    const int64_t C = p.in_channels, K = p.out_channels, Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group();
    const int64_t rows = p.batch * p.out_spatial();
    constexpr int64_t kRowChunk = 256;
    const int64_t chunks = (rows + kRowChunk - 1) / kRowChunk;
    // W^T once per call, each group's (Cg x Kg) block row-major: read through W's strides, every
    // chunk's GEMM would gather its B panel an element at a time (a tenth of resnet_1x1_56's time).
    // The caller's packed_weights slot: tasks only use the GEMM's own slots.
    T* w_t = scratch<T>(ScratchSlot::packed_weights, p.weight_elements());
    transpose_images(w, w_t, p.groups, Kg, Cg);
    parallel_for(chunks * p.groups, [&](int64_t task) {
        const int64_t g = task % p.groups, r0 = task / p.groups * kRowChunk, count = std::min(rows, r0 + kRowChunk) - r0;
        T* y_block = y + r0 * K + g * Kg;
        if (bias)
            for (int64_t r = 0; r < count; ++r) std::copy_n(bias + g * Kg, Kg, y_block + r * K);
        gemm::gemm<T>(count, Kg, Cg, {x + r0 * C + g * Cg, C, 1}, {w_t + g * Kg * Cg, Kg, 1}, y_block, K,
                      bias != nullptr);
    });
}

template <typename T>
void gemm_transposed(const ConvProblem& p, const ConvArgs& args) {
    const T* y = static_cast<const T*>(args.src);
    const T* w = static_cast<const T*>(args.weight);
    const T* bias = static_cast<const T*>(args.bias);
    T* x = static_cast<T*>(args.dst);
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group();
    const int64_t P = p.out_spatial(), X = p.in_spatial(), depth = p.gemm_k(), taps = p.kernel_spatial();
    const bool pointwise = is_pointwise(p);
    const int64_t outer = p.batch * p.groups;
    const int64_t threads = ThreadPool::instance().num_threads();
    const int64_t splits = outer >= threads ? 1 : std::min<int64_t>(std::max<int64_t>(Cg, 1), (threads + outer - 1) / outer);
    const int64_t block = std::max<int64_t>(1, (Cg + splits - 1) / splits);
    const int64_t blocks = Cg == 0 ? 0 : (Cg + block - 1) / block;
    // Sized for a whole group's rows so the chunking, and with it the summation order in x, does not
    // depend on the thread count.
    const int64_t length = chunk_length(depth, P, sizeof(T));

    parallel_for(outer * blocks, [&](int64_t task) {
        const int64_t b = task % blocks, g = (task / blocks) % p.groups, n = task / blocks / p.groups;
        const int64_t c0 = b * block, channels = std::min(Cg, c0 + block) - c0;
        const int64_t rows = channels * taps;
        T* x_block = x + (n * p.in_channels + g * Cg + c0) * X;
        // A(i, j) = W[g*Kg + j][c0*taps + i]: the transposed weights, read through strides.
        gemm::ConstMatrix<T> weights_t{w + g * Kg * depth + c0 * taps, 1, depth};
        const T* y_group = y + (n * p.out_channels + g * Kg) * P;
        fill_rows(x_block, channels, X, X, bias ? bias + g * Cg + c0 : nullptr);
        if (pointwise) {
            gemm::gemm<T>(channels, P, Kg, weights_t, {y_group, P, 1}, x_block, X, true);
            return;
        }
        T* buffer = scratch<T>(ScratchSlot::columns, rows * std::min(length, P));
        for (int64_t begin = 0; begin < P; begin += length) {
            const int64_t count = std::min(P, begin + length) - begin;
            gemm::gemm<T>(rows, count, Kg, weights_t, {y_group + begin, P, 1}, buffer, count, false);
            col2im_add(p, buffer, count, channels, begin, begin + count, x_block);
        }
    });
}

std::string declines_pointwise(const ConvProblem& p) {
    if (p.kind != ConvKind::forward) return "handles forward convolutions only";
    if (!is_pointwise(p)) return "needs a 1x1 kernel with stride 1 and no padding";
    return needs_channels_first(p);
}
std::string declines_pointwise_nhwc(const ConvProblem& p) {
    if (p.kind != ConvKind::forward) return "handles forward convolutions only";
    if (!is_pointwise(p)) return "needs a 1x1 kernel with stride 1 and no padding";
    if (p.layout != Layout::channels_last) return "needs channels-last memory";
    return {};
}
std::string needs_forward(const ConvProblem& p) {
    if (p.kind != ConvKind::forward) return "handles forward convolutions only";
    return needs_channels_first(p);
}
std::string needs_transposed(const ConvProblem& p) {
    if (p.kind != ConvKind::transposed) return "handles transposed convolutions only";
    return needs_channels_first(p);
}

void run_gemm_forward(const ConvProblem& p, const ConvArgs& args) {
    p.dtype == DType::f32 ? gemm_forward<float>(p, args) : gemm_forward<double>(p, args);
}
void run_gemm_pointwise_nhwc(const ConvProblem& p, const ConvArgs& args) {
    p.dtype == DType::f32 ? gemm_forward_pointwise_nhwc<float>(p, args) : gemm_forward_pointwise_nhwc<double>(p, args);
}
void run_gemm_transposed(const ConvProblem& p, const ConvArgs& args) {
    p.dtype == DType::f32 ? gemm_transposed<float>(p, args) : gemm_transposed<double>(p, args);
}

}  // namespace

// The pointwise entry shares the forward code (which skips im2col on its own); it is listed first so
// that `explain_selection` shows when a layer needs no column matrix at all.
const ConvImpl gemm_1x1_impl{"gemm_1x1", Algo::im2col, declines_pointwise, run_gemm_forward};
const ConvImpl gemm_1x1_nhwc_impl{"gemm_1x1_nhwc", Algo::im2col, declines_pointwise_nhwc, run_gemm_pointwise_nhwc};
const ConvImpl im2col_gemm_impl{"im2col_gemm", Algo::im2col, needs_forward, run_gemm_forward};
const ConvImpl gemm_col2im_impl{"gemm_col2im", Algo::im2col, needs_transposed, run_gemm_transposed};

}  // namespace fastconv
