// Direct convolution: no column buffer, only the index mapping's row runs (visit_tap).
//
// Forward: each task owns a block of up to kChannelBlock output channels over a chunk of output
// positions, writes bias (or zero) there and accumulates every (input channel, tap) run into it, so
// one load of x feeds several output channels. The chunk keeps the block's outputs in L1.
//
// Transposed (backward data): each task owns one output channel of one image (a channel of x in
// the forward view) and scatters every (input channel k, tap) run into it, the stride-decomposed
// form: run j of a tap touches x at stride steps, so no multiply ever meets an inserted zero.
//
// Both sum each element's terms in a fixed order whatever the task split, so results are bitwise
// identical for any thread count. The SIMD issue replaces the inner loops with register-blocked
// kernels; the task split and the traversal stay.
#include <algorithm>

#include "im2col.hpp"
#include "registry.hpp"
#include "runtime/thread_pool.hpp"

namespace fastconv {
namespace {

constexpr int64_t kChannelBlock = 4;
constexpr int64_t kPositionChunk = 1024;

template <typename T>
void direct_forward(const ConvProblem& p, const ConvArgs& args) {
    const T* x = static_cast<const T*>(args.src);
    const T* w = static_cast<const T*>(args.weight);
    const T* bias = static_cast<const T*>(args.bias);
    T* y = static_cast<T*>(args.dst);
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group();
    const int64_t P = p.out_spatial(), X = p.in_spatial(), taps = p.kernel_spatial();
    const int64_t channel_blocks = (Kg + kChannelBlock - 1) / kChannelBlock;
    const int64_t chunks = (P + kPositionChunk - 1) / kPositionChunk;
    const int64_t tasks = p.batch * p.groups * channel_blocks * chunks;

    parallel_for(tasks, [&](int64_t task) {
        const int64_t chunk = task % chunks;
        const int64_t block = (task / chunks) % channel_blocks;
        const int64_t g = (task / chunks / channel_blocks) % p.groups;
        const int64_t n = task / chunks / channel_blocks / p.groups;
        const int64_t begin = chunk * kPositionChunk, end = std::min(P, begin + kPositionChunk);
        const int64_t k0 = g * Kg + block * kChannelBlock;
        const int64_t kb = std::min(kChannelBlock, g * Kg + Kg - k0);

        T* out[kChannelBlock];
        for (int64_t b = 0; b < kb; ++b) {
            out[b] = y + (n * p.out_channels + k0 + b) * P;
            std::fill(out[b] + begin, out[b] + end, bias ? bias[k0 + b] : T(0));
        }
        for (int64_t cl = 0; cl < Cg; ++cl) {
            const T* x_channel = x + (n * p.in_channels + g * Cg + cl) * X;
            for_each_tap(p, [&](int64_t kd, int64_t kh, int64_t kw, int64_t tap) {
                T wv[kChannelBlock];
                for (int64_t b = 0; b < kb; ++b) wv[b] = w[((k0 + b) * Cg + cl) * taps + tap];
                visit_tap(
                    p, kd, kh, kw, begin, end, [](int64_t, int64_t) {},
                    [&](int64_t pos, int64_t count, int64_t offset, int64_t stride) {
                        const T* src = x_channel + offset;
                        for (int64_t b = 0; b < kb; ++b) {
                            T* dst = out[b] + pos;
                            const T weight = wv[b];
                            if (stride == 1) {
                                for (int64_t j = 0; j < count; ++j) dst[j] += weight * src[j];
                            } else {
                                for (int64_t j = 0; j < count; ++j) dst[j] += weight * src[j * stride];
                            }
                        }
                    });
            });
        }
    });
}

template <typename T>
void direct_transposed(const ConvProblem& p, const ConvArgs& args) {
    const T* y = static_cast<const T*>(args.src);
    const T* w = static_cast<const T*>(args.weight);
    const T* bias = static_cast<const T*>(args.bias);
    T* x = static_cast<T*>(args.dst);
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group();
    const int64_t P = p.out_spatial(), X = p.in_spatial(), taps = p.kernel_spatial();

    parallel_for(p.batch * p.in_channels, [&](int64_t task) {
        const int64_t n = task / p.in_channels, c = task % p.in_channels;
        const int64_t g = c / Cg, cl = c % Cg;
        T* x_channel = x + task * X;
        std::fill(x_channel, x_channel + X, bias ? bias[c] : T(0));
        for (int64_t kl = 0; kl < Kg; ++kl) {
            const int64_t k = g * Kg + kl;
            const T* y_channel = y + (n * p.out_channels + k) * P;
            for_each_tap(p, [&](int64_t kd, int64_t kh, int64_t kw, int64_t tap) {
                const T weight = w[(k * Cg + cl) * taps + tap];
                visit_tap(
                    p, kd, kh, kw, 0, P, [](int64_t, int64_t) {},
                    [&](int64_t pos, int64_t count, int64_t offset, int64_t stride) {
                        const T* src = y_channel + pos;
                        T* dst = x_channel + offset;
                        if (stride == 1) {
                            for (int64_t j = 0; j < count; ++j) dst[j] += weight * src[j];
                        } else {
                            for (int64_t j = 0; j < count; ++j) dst[j * stride] += weight * src[j];
                        }
                    });
            });
        }
    });
}

std::string needs_forward(const ConvProblem& p) {
    if (p.kind != ConvKind::forward) return "handles forward convolutions only";
    return needs_channels_first(p);
}
std::string needs_transposed(const ConvProblem& p) {
    if (p.kind != ConvKind::transposed) return "handles transposed convolutions only";
    return needs_channels_first(p);
}

void run_direct_forward(const ConvProblem& p, const ConvArgs& args) {
    p.dtype == DType::f32 ? direct_forward<float>(p, args) : direct_forward<double>(p, args);
}
void run_direct_transposed(const ConvProblem& p, const ConvArgs& args) {
    p.dtype == DType::f32 ? direct_transposed<float>(p, args) : direct_transposed<double>(p, args);
}

}  // namespace

const ConvImpl direct_forward_impl{"direct_forward", Algo::direct, needs_forward, run_direct_forward};
const ConvImpl direct_transposed_impl{"direct_transposed", Algo::direct, needs_transposed,
                                      run_direct_transposed};

}  // namespace fastconv
