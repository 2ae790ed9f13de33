// Direct forward convolution: output-stationary kernels that read the activation once per block
// into shared memory, no column buffer.
//
// Tiled (any groups, kernel, stride, dilation): a block of 256 threads owns a TK = 32 output
// channels x (TH = 8 x TW = 16) output pixels tile of one (image, output depth); each thread a
// 4 channels x 4 pixels register tile (pixels 32 apart, so a warp reads consecutive input columns
// and shares one channel quad whose weights are shared-memory broadcasts). The reduction walks
// CC = 8 input channels and one kernel depth at a time: the input tile plus its halo
// ((TH-1)*stride + (R-1)*dilation + 1 rows, likewise columns) and the matching 8 x 32 x R x S
// weights are staged in shared memory, then every tap is a 16-FMA step from shared memory. Depth
// taps that fall into padding are skipped for the whole block. Tails (channels past Kg, pixels
// past the image) compute on zeros and are not stored. Declines when the stage needs more than
// 48 KiB of shared memory (large dilation or kernel at float64) or N * D_out exceeds the grid.
//
// Depthwise (C/groups == 1): a block owns a 16 x 32 pixel tile of one (image, channel, depth), two
// pixels per thread; the input plane's tile and halo are staged per kernel depth, the channel's
// weights are read through the read-only cache (one address per warp: a broadcast).
//
// Pointwise (1 x 1 x 1, stride 1, no padding): the image already is the column matrix, so this is
// the batched GEMM of gemm_tile.cuh over (image, group) with A read in place. Tiled and depthwise
// are float32/float64 only; half-precision problems take the GEMM paths.
#include "gemm_tile.cuh"

namespace fastconv::cuda {
namespace {

constexpr int kSharedLimit = 48 * 1024;

constexpr int kTiledTH = 8, kTiledTW = 16, kTiledTK = kTiledChannels, kTiledCC = 8;
constexpr int kDepthTH = 16, kDepthTW = 32;

int extent(int tile, int stride, int kernel, int dilation) { return (tile - 1) * stride + (kernel - 1) * dilation + 1; }

int64_t tiled_shared_elements(const ConvProblem& p) {
    const int64_t eh = extent(kTiledTH, int(p.stride[1]), int(p.kernel[1]), int(p.dilation[1]));
    const int64_t ew = extent(kTiledTW, int(p.stride[2]), int(p.kernel[2]), int(p.dilation[2]));
    return kTiledCC * eh * ew + int64_t(kTiledCC) * kTiledTK * p.kernel[1] * p.kernel[2];
}

int64_t depthwise_shared_elements(const ConvProblem& p) {
    return int64_t(extent(kDepthTH, int(p.stride[1]), int(p.kernel[1]), int(p.dilation[1]))) *
           extent(kDepthTW, int(p.stride[2]), int(p.kernel[2]), int(p.dilation[2]));
}

template <typename T>
__global__ void __launch_bounds__(256) direct_tiled_kernel(ConvGeometry g, const T* __restrict__ x,
                                                           const T* __restrict__ w, const T* __restrict__ bias,
                                                           T* __restrict__ y, int eh, int ew, int tiles_w,
                                                           int k_tiles) {
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    T* tile = reinterpret_cast<T*>(shared_bytes);  // [CC][eh][ew]
    const int RS = g.ker[1] * g.ker[2];
    T* wtile = tile + kTiledCC * eh * ew;  // [CC][TK][R*S]

    const int t = threadIdx.x;
    const int oh0 = (blockIdx.x / tiles_w) * kTiledTH, ow0 = (blockIdx.x % tiles_w) * kTiledTW;
    const int group = blockIdx.y / k_tiles, k0 = (blockIdx.y % k_tiles) * kTiledTK;
    const int n = blockIdx.z / g.out[0], od = blockIdx.z % g.out[0];
    const int pg = t % 32, cg = t / 32;
    const int ih0 = oh0 * g.stride[1] - g.pad[1], iw0 = ow0 * g.stride[2] - g.pad[2];

    T acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = T(0);

    const T* x_group = x + (int64_t(n) * g.C + int64_t(group) * g.Cg) * g.in_spatial;
    for (int c0 = 0; c0 < g.Cg; c0 += kTiledCC) {
        for (int kd = 0; kd < g.ker[0]; ++kd) {
            const int id = od * g.stride[0] - g.pad[0] + kd * g.dil[0];
            if (id < 0 || id >= g.in[0]) continue;  // the same for the whole block
            __syncthreads();                         // the previous stage is fully consumed
            for (int e = t; e < kTiledCC * eh * ew; e += blockDim.x) {
                const int c = e / (eh * ew), r = e / ew % eh, q = e % ew;
                const int ih = ih0 + r, iw = iw0 + q;
                tile[e] = (c0 + c < g.Cg && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2])
                              ? x_group[(c0 + c) * g.in_spatial + (int64_t(id) * g.in[1] + ih) * g.in[2] + iw]
                              : T(0);
            }
            for (int e = t; e < kTiledCC * kTiledTK * RS; e += blockDim.x) {
                const int c = e / (kTiledTK * RS), kl = e / RS % kTiledTK, tap = e % RS;
                const int k = k0 + kl;
                wtile[e] = (c0 + c < g.Cg && k < g.Kg)
                               ? w[((int64_t(group) * g.Kg + k) * g.Cg + c0 + c) * g.taps + kd * RS + tap]
                               : T(0);
            }
            __syncthreads();
            for (int c = 0; c < kTiledCC; ++c)
                for (int kh = 0; kh < g.ker[1]; ++kh)
                    for (int kw = 0; kw < g.ker[2]; ++kw) {
                        T xv[4], wv[4];
#pragma unroll
                        for (int j = 0; j < 4; ++j) {
                            const int p = pg + 32 * j, ly = p / kTiledTW, lx = p % kTiledTW;
                            xv[j] = tile[(c * eh + ly * g.stride[1] + kh * g.dil[1]) * ew + lx * g.stride[2] +
                                         kw * g.dil[2]];
                        }
#pragma unroll
                        for (int i = 0; i < 4; ++i) wv[i] = wtile[(c * kTiledTK + cg * 4 + i) * RS + kh * g.ker[2] + kw];
#pragma unroll
                        for (int i = 0; i < 4; ++i)
#pragma unroll
                            for (int j = 0; j < 4; ++j) acc[i][j] = fma(wv[i], xv[j], acc[i][j]);
                    }
        }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int k = k0 + cg * 4 + i;
        if (k >= g.Kg) continue;
        const int kk = group * g.Kg + k;
        const T b = bias ? bias[kk] : T(0);
        T* plane = y + (int64_t(n) * g.K + kk) * g.out_spatial + int64_t(od) * g.out[1] * g.out[2];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int p = pg + 32 * j, oh = oh0 + p / kTiledTW, ow = ow0 + p % kTiledTW;
            if (oh < g.out[1] && ow < g.out[2]) plane[int64_t(oh) * g.out[2] + ow] = acc[i][j] + b;
        }
    }
}

template <typename T>
__global__ void __launch_bounds__(256) direct_depthwise_kernel(ConvGeometry g, const T* __restrict__ x,
                                                               const T* __restrict__ w, const T* __restrict__ bias,
                                                               T* __restrict__ y, int eh, int ew, int tiles_w) {
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    T* tile = reinterpret_cast<T*>(shared_bytes);  // [eh][ew]
    const int t = threadIdx.x;
    const int oh0 = (blockIdx.x / tiles_w) * kDepthTH, ow0 = (blockIdx.x % tiles_w) * kDepthTW;
    const int k = blockIdx.y;
    const int n = blockIdx.z / g.out[0], od = blockIdx.z % g.out[0];
    const int c = k / g.Kg;  // C/groups == 1: output channel k reads input channel k / multiplier
    const int lx = t % 32, ly = t / 32;
    const int ih0 = oh0 * g.stride[1] - g.pad[1], iw0 = ow0 * g.stride[2] - g.pad[2];
    const T* plane = x + (int64_t(n) * g.C + c) * g.in_spatial;
    const T* wk = w + int64_t(k) * g.taps;
    T acc[2] = {T(0), T(0)};
    for (int kd = 0; kd < g.ker[0]; ++kd) {
        const int id = od * g.stride[0] - g.pad[0] + kd * g.dil[0];
        if (id < 0 || id >= g.in[0]) continue;
        __syncthreads();
        for (int e = t; e < eh * ew; e += blockDim.x) {
            const int ih = ih0 + e / ew, iw = iw0 + e % ew;
            tile[e] = (ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2])
                          ? plane[(int64_t(id) * g.in[1] + ih) * g.in[2] + iw]
                          : T(0);
        }
        __syncthreads();
        for (int kh = 0; kh < g.ker[1]; ++kh)
            for (int kw = 0; kw < g.ker[2]; ++kw) {
                const T wv = __ldg(wk + (kd * g.ker[1] + kh) * g.ker[2] + kw);
#pragma unroll
                for (int j = 0; j < 2; ++j)
                    acc[j] = fma(wv, tile[((ly + 8 * j) * g.stride[1] + kh * g.dil[1]) * ew + lx * g.stride[2] +
                                          kw * g.dil[2]],
                                 acc[j]);
            }
    }
    const T b = bias ? bias[k] : T(0);
    T* out = y + (int64_t(n) * g.K + k) * g.out_spatial + int64_t(od) * g.out[1] * g.out[2];
#pragma unroll
    for (int j = 0; j < 2; ++j) {
        const int oh = oh0 + ly + 8 * j, ow = ow0 + lx;
        if (oh < g.out[1] && ow < g.out[2]) out[int64_t(oh) * g.out[2] + ow] = acc[j] + b;
    }
}

}  // namespace

std::string direct_tiled_declines(const ConvProblem& p) {
    if (p.kind != ConvKind::forward) return "forward only";
    if (p.dtype != DType::f32 && p.dtype != DType::f64) return "float32 and float64 only";
    if (tiled_shared_elements(p) * dtype_size(p.dtype) > kSharedLimit)
        return "input tile + halo and weights need more than 48 KiB of shared memory";
    if (p.batch * p.out_size[0] > 65535) return "N * D_out exceeds the grid's z extent (65535)";
    if (p.groups * ((p.out_channels_per_group() + kTiledTK - 1) / kTiledTK) > 65535) return "too many channel tiles";
    return {};
}

std::string direct_depthwise_declines(const ConvProblem& p) {
    if (p.kind != ConvKind::forward) return "forward only";
    if (p.in_channels_per_group() != 1) return "needs C/groups == 1 (depthwise)";
    if (p.dtype != DType::f32 && p.dtype != DType::f64) return "float32 and float64 only";
    if (depthwise_shared_elements(p) * dtype_size(p.dtype) > kSharedLimit)
        return "input tile + halo needs more than 48 KiB of shared memory";
    if (p.batch * p.out_size[0] > 65535 || p.out_channels > 65535) return "grid exceeds 65535 images or channels";
    return {};
}

std::string direct_pointwise_declines(const ConvProblem& p) {
    if (p.kind != ConvKind::forward) return "forward only";
    for (int d = 0; d < kMaxSpatialDims; ++d)
        if (p.kernel[d] != 1 || p.stride[d] != 1 || p.pad_before[d] != 0 || p.pad_after[d] != 0)
            return "needs a 1x1 kernel, stride 1 and no padding";
    return {};
}

template <typename T>
void direct_tiled(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, cudaStream_t stream) {
    const int eh = extent(kTiledTH, g.stride[1], g.ker[1], g.dil[1]);
    const int ew = extent(kTiledTW, g.stride[2], g.ker[2], g.dil[2]);
    const int tiles_h = (g.out[1] + kTiledTH - 1) / kTiledTH, tiles_w = (g.out[2] + kTiledTW - 1) / kTiledTW;
    const int k_tiles = (g.Kg + kTiledTK - 1) / kTiledTK;
    const size_t shared = (size_t(kTiledCC) * eh * ew + size_t(kTiledCC) * kTiledTK * g.ker[1] * g.ker[2]) * sizeof(T);
    const dim3 grid(tiles_h * tiles_w, g.G * k_tiles, g.N * g.out[0]);
    direct_tiled_kernel<<<grid, 256, shared, stream>>>(g, x, w, bias, y, eh, ew, tiles_w, k_tiles);
    CUDA_CHECK_LAUNCH();
}

template <typename T>
void direct_depthwise(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, cudaStream_t stream) {
    const int eh = extent(kDepthTH, g.stride[1], g.ker[1], g.dil[1]);
    const int ew = extent(kDepthTW, g.stride[2], g.ker[2], g.dil[2]);
    const int tiles_h = (g.out[1] + kDepthTH - 1) / kDepthTH, tiles_w = (g.out[2] + kDepthTW - 1) / kDepthTW;
    const dim3 grid(tiles_h * tiles_w, g.K, g.N * g.out[0]);
    direct_depthwise_kernel<<<grid, 256, size_t(eh) * ew * sizeof(T), stream>>>(g, x, w, bias, y, eh, ew, tiles_w);
    CUDA_CHECK_LAUNCH();
}

template <typename T>
void direct_pointwise(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, cudaStream_t stream,
                      bool tf32) {
    const int64_t P = g.out_spatial;
    const int images_per_launch = std::max(1, 65535 / g.G);
    for (int n0 = 0; n0 < g.N; n0 += images_per_launch) {
        const int images = std::min(images_per_launch, g.N - n0);
        const T* x0 = x + int64_t(n0) * g.C * P;
        const BatchStride a_batch{g.G, int64_t(g.C) * P, int64_t(g.Cg) * P};
        DenseA<T> a{x0, P, a_batch, int(P), g.Cg, dense_vector_ok(x0, P, a_batch)};
        StridedB<T, true> b{w, 1, g.Cg, BatchStride{g.G, 0, int64_t(g.Kg) * g.Cg}, g.Cg, g.Kg};
        ChannelsEpilogue<T> epilogue{y + int64_t(n0) * g.K * P, P, BatchStride{g.G, int64_t(g.K) * P, int64_t(g.Kg) * P},
                                     bias, BatchStride{g.G, 0, g.Kg}};
        launch_gemm<compute_t<T>>(a, b, epilogue, int(P), g.Kg, g.Cg, images * g.G, stream, tf32);
    }
}

#define FASTCONV_INSTANTIATE(T)                                                                                 \
    template void direct_tiled<T>(const ConvGeometry&, const T*, const T*, const T*, T*, cudaStream_t);        \
    template void direct_depthwise<T>(const ConvGeometry&, const T*, const T*, const T*, T*, cudaStream_t);
FASTCONV_INSTANTIATE(float)
FASTCONV_INSTANTIATE(double)
#undef FASTCONV_INSTANTIATE
#define FASTCONV_INSTANTIATE(T) \
    template void direct_pointwise<T>(const ConvGeometry&, const T*, const T*, const T*, T*, cudaStream_t, bool);
FASTCONV_INSTANTIATE(float)
FASTCONV_INSTANTIATE(double)
FASTCONV_INSTANTIATE(__half)
FASTCONV_INSTANTIATE(__nv_bfloat16)
#undef FASTCONV_INSTANTIATE

}  // namespace fastconv::cuda
