// Implicit GEMM: the product of im2col + GEMM without materialising the column buffer. The GEMM of
// gemm_tile.cuh runs with M = N * prod(out) output pixels, N = K/groups output channels and
// K = C/groups * prod(kernel), batched over groups; its A loader gathers x on the fly (zeros for
// padding) and its epilogue writes NCHW with the bias.
//
// The transposed op uses the same kernel through the dgrad decomposition: x positions i along a
// dimension split into `stride` residue classes by (i + pad) mod stride, and a class is reached
// only by the taps r with r * dilation in that residue, every step/gcd taps, from source pixel
// o = (i + pad - r * dilation) / stride exactly. Each class is one implicit GEMM over its own
// pixels and taps (prod(stride) launches), so no multiply ever touches an inserted zero; a class
// no tap reaches gets only the bias.
//
// Both directions are one description: the destination pixels of a launch form a grid q with
// position q * dst_mul + dst_off, and tap t of it reads source position
// q * q_mul + src_off + t * t_mul and weight tap r0 + t * r_step (ImplicitParams, planned on the
// host by cpp/src/cuda_plan.cpp).
// Per thread, the A loader decodes its 4 (float) or 2 (double) pixel rows once per block, then
// only the (channel, tap) of each K step.
#include "gemm_tile.cuh"

namespace fastconv::cuda {
namespace {

template <typename S>
struct GatherA {
    using T = compute_t<S>;
    static constexpr int P = 16 / sizeof(T);
    const S* src;
    ImplicitParams p;
    int M, K;
    int64_t offset[P] = {};
    int sd[P] = {}, sh[P] = {}, sw[P] = {};

    __device__ void begin(int group, int first) {
#pragma unroll
        for (int j = 0; j < P; ++j) {
            const int m = first + j;
            if (m < M) {
                const int n = m / p.Q, q = m % p.Q;
                const int qw = q % p.q_size[2], qh = q / p.q_size[2] % p.q_size[1], qd = q / (p.q_size[2] * p.q_size[1]);
                offset[j] = (int64_t(n) * p.src_channels + int64_t(group) * p.src_cpg) * p.src_spatial;
                sd[j] = qd * p.q_mul[0] + p.src_off[0];
                sh[j] = qh * p.q_mul[1] + p.src_off[1];
                sw[j] = qw * p.q_mul[2] + p.src_off[2];
            } else {
                offset[j] = 0;
                sd[j] = -1 << 30;  // out of every range: loads become zeros
                sh[j] = sw[j] = 0;
            }
        }
    }
    template <int PP>
    __device__ void load(int k, T (&v)[PP]) const {
        static_assert(PP == P, "one 16-byte group of rows per thread");
        if (k >= K) {
#pragma unroll
            for (int j = 0; j < P; ++j) v[j] = T(0);
            return;
        }
        const int ci = k / p.taps, t = k % p.taps;
        const int tw = t % p.t_count[2], th = t / p.t_count[2] % p.t_count[1], td = t / (p.t_count[2] * p.t_count[1]);
        const int dd = td * p.t_mul[0], dh = th * p.t_mul[1], dw = tw * p.t_mul[2];
        const int64_t channel = int64_t(ci) * p.src_spatial;
#pragma unroll
        for (int j = 0; j < P; ++j) {
            const int d = sd[j] + dd, h = sh[j] + dh, w = sw[j] + dw;
            const bool inside = d >= 0 && d < p.src_size[0] && h >= 0 && h < p.src_size[1] && w >= 0 && w < p.src_size[2];
            v[j] = inside ? load_compute(src + offset[j] + channel + (int64_t(d) * p.src_size[1] + h) * p.src_size[2] + w)
                          : T(0);
        }
    }
};

// B (k = (source channel, tap), n = destination channel) from the weights (K, C/groups, kernel...).
template <typename S, bool kContiguousK>
struct TapWeightsB {
    using T = compute_t<S>;
    static constexpr bool contiguous_k = kContiguousK;
    const S* w;
    ImplicitParams p;
    int K, N;
    const S* base = nullptr;

    __device__ void begin(int group) { base = w + int64_t(group) * p.w_group; }
    __device__ T load(int k, int n) const {
        if (k >= K || n >= N) return T(0);
        const int ci = k / p.taps, t = k % p.taps;
        const int tw = t % p.t_count[2], th = t / p.t_count[2] % p.t_count[1], td = t / (p.t_count[2] * p.t_count[1]);
        const int rd = p.r0[0] + td * p.r_step[0], rh = p.r0[1] + th * p.r_step[1], rw = p.r0[2] + tw * p.r_step[2];
        return load_compute(base + ci * p.w_ci + n * p.w_co + (int64_t(rd) * p.ker[1] + rh) * p.ker[2] + rw);
    }
};

template <typename S>
struct ScatterEpilogue {
    using T = compute_t<S>;
    S* dst;
    const S* bias;
    ImplicitParams p;
    int group = 0;

    __device__ void begin(int z) { group = z; }
    __device__ void store(int m, int n, T value) const {
        const int image = m / p.Q, q = m % p.Q;
        const int qw = q % p.q_size[2], qh = q / p.q_size[2] % p.q_size[1], qd = q / (p.q_size[2] * p.q_size[1]);
        const int d = qd * p.dst_mul[0] + p.dst_off[0], h = qh * p.dst_mul[1] + p.dst_off[1],
                  w = qw * p.dst_mul[2] + p.dst_off[2];
        const int channel = group * p.dst_cpg + n;
        dst[(int64_t(image) * p.dst_channels + channel) * p.dst_spatial + (int64_t(d) * p.dst_size[1] + h) * p.dst_size[2] +
            w] = from_compute<S>(bias ? value + to_compute(bias[channel]) : value);
    }
};

template <typename T, bool kForward>
void launch_implicit(const ImplicitParams& p, int batch, int groups, const T* src, const T* w, const T* bias, T* dst,
                     cudaStream_t stream, bool tf32) {
    const int64_t M = int64_t(batch) * p.Q;
    if (M > INT32_MAX) throw InvalidArgument("cuda: implicit GEMM needs N * prod(output) below 2^31");
    const int K = p.src_cpg * p.taps;
    GatherA<T> a{src, p, int(M), K};
    TapWeightsB<T, kForward> b{w, p, K, p.dst_cpg};
    ScatterEpilogue<T> epilogue{dst, bias, p};
    launch_gemm<compute_t<T>>(a, b, epilogue, int(M), p.dst_cpg, K, groups, stream, tf32);
}

}  // namespace

template <typename T>
void implicit_gemm(const ConvGeometry& g, bool transposed, const T* src, const T* w, const T* bias, T* dst,
                   cudaStream_t stream, bool tf32) {
    for (const ImplicitParams& p : implicit_gemm_plan(g, transposed)) {
        if (transposed)
            launch_implicit<T, false>(p, g.N, g.G, src, w, bias, dst, stream, tf32);
        else
            launch_implicit<T, true>(p, g.N, g.G, src, w, bias, dst, stream, tf32);
    }
}

#define FASTCONV_INSTANTIATE(T) \
    template void implicit_gemm<T>(const ConvGeometry&, bool, const T*, const T*, const T*, T*, cudaStream_t, bool);
FASTCONV_INSTANTIATE(float)
FASTCONV_INSTANTIATE(double)
FASTCONV_INSTANTIATE(__half)
FASTCONV_INSTANTIATE(__nv_bfloat16)
#undef FASTCONV_INSTANTIATE

}  // namespace fastconv::cuda
