// Transposed convolution as GEMM + col2im, and fold.
//
// In the forward view (problem.hpp) the transposed op reads y (N, K, out) and writes x (N, C, in).
// Per image and chunk of y pixels, one batched GEMM over the groups (gemm_tile.cuh) computes the
// column buffer columns^T (pixels x Cg*taps) = y_g^T (pixels x Kg) * W_g (Kg x Cg*taps); the
// buffer obeys the same 64 MiB cap as the forward im2col path (chunks of whole y rows).
//
// col2im is a gather, not a scatter: one thread per x element visits its taps, keeps those whose
// source y pixel (i + pad - r*dil divisible by the stride, inside y) lies in the current chunk, and
// adds their column entries in tap order. The first chunk starts from the bias, later ones from x:
// no atomics, each element's sum in an order fixed by the problem, so the result is deterministic.
// Launch: 1-D grid-stride over C x prod(in) of one image, blockIdx.y over images (fold).
#include "gemm_tile.cuh"

namespace fastconv::cuda {
namespace {

__device__ int source_pixel(int i, int r, int stride, int dil, int pad, int out) {
    const int t = i + pad - r * dil;
    if (t < 0 || t % stride != 0) return -1;
    return t / stride < out ? t / stride : -1;
}

// Col: the column buffer's type (the compute type for the GEMM path, the input's for fold); T: x's.
template <typename Col, typename T>
__global__ void col2im_kernel(ConvGeometry g, const Col* __restrict__ columns, int64_t columns_image_stride, int64_t ld,
                              int64_t p0, int64_t pixels, const T* __restrict__ bias, bool accumulate,
                              T* __restrict__ x, int64_t x_image_stride) {
    const int64_t total = int64_t(g.C) * g.in_spatial;
    const Col* image_columns = columns + blockIdx.y * columns_image_stride;
    T* image = x + blockIdx.y * x_image_stride;
    for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
        const int c = int(e / g.in_spatial);
        const int64_t s = e % g.in_spatial;
        const int iw = int(s % g.in[2]), ih = int(s / g.in[2] % g.in[1]), id = int(s / (int64_t(g.in[2]) * g.in[1]));
        compute_t<T> acc = accumulate ? to_compute(image[e]) : (bias ? to_compute(bias[c]) : compute_t<T>(0));
        for (int kd = 0; kd < g.ker[0]; ++kd) {
            const int od = source_pixel(id, kd, g.stride[0], g.dil[0], g.pad[0], g.out[0]);
            if (od < 0) continue;
            for (int kh = 0; kh < g.ker[1]; ++kh) {
                const int oh = source_pixel(ih, kh, g.stride[1], g.dil[1], g.pad[1], g.out[1]);
                if (oh < 0) continue;
                for (int kw = 0; kw < g.ker[2]; ++kw) {
                    const int ow = source_pixel(iw, kw, g.stride[2], g.dil[2], g.pad[2], g.out[2]);
                    if (ow < 0) continue;
                    const int64_t p = (int64_t(od) * g.out[1] + oh) * g.out[2] + ow - p0;
                    if (p < 0 || p >= pixels) continue;
                    const int tap = (kd * g.ker[1] + kh) * g.ker[2] + kw;
                    acc += to_compute(image_columns[(int64_t(c) * g.taps + tap) * ld + p]);
                }
            }
        }
        image[e] = from_compute<T>(acc);
    }
}

template <typename Col, typename T>
void launch_col2im(const ConvGeometry& g, const Col* columns, int64_t columns_image_stride, int64_t ld, int64_t p0,
                   int64_t pixels, const T* bias, bool accumulate, T* x, int64_t x_image_stride, int images,
                   cudaStream_t stream) {
    const int64_t total = int64_t(g.C) * g.in_spatial;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(blocks_for(total, 256), 1 << 16));
    for (int first = 0; first < images; first += 65535) {
        const int count = std::min(images - first, 65535);
        col2im_kernel<<<dim3(blocks, count), 256, 0, stream>>>(g, columns + first * columns_image_stride,
                                                                columns_image_stride, ld, p0, pixels, bias, accumulate,
                                                                x + first * x_image_stride, x_image_stride);
        CUDA_CHECK_LAUNCH();
    }
}

}  // namespace

template <typename T>
void gemm_col2im(const ConvGeometry& g, const T* y, const T* w, const T* bias, T* x, cudaStream_t stream, bool tf32) {
    const int64_t rows = int64_t(g.C) * g.taps, P = g.out_spatial, per_group = int64_t(g.Cg) * g.taps;
    // The column buffer holds compute values (float for half-precision inputs), so chunks of a
    // float16 problem round only once more, when later chunks add into x.
    using C = compute_t<T>;
    const ColumnChunk plan = column_chunk(rows, P, g.out[2], sizeof(C), kWorkspaceCapBytes);
    const int64_t chunk = plan.pixels, ld = plan.ld;
    Workspace workspace(size_t(rows * ld) * sizeof(C), stream);
    C* columns = workspace.as<C>();
    for (int n = 0; n < g.N; ++n) {
        const T* y_image = y + int64_t(n) * g.K * P;
        T* x_image = x + int64_t(n) * g.C * g.in_spatial;
        for (int64_t p0 = 0; p0 < P; p0 += chunk) {
            const int pixels = int(std::min(chunk, P - p0));
            const BatchStride a_batch{1, int64_t(g.Kg) * P, 0};
            DenseA<T> a{y_image + p0, P, a_batch, pixels, g.Kg, dense_vector_ok(y_image + p0, P, a_batch)};
            StridedB<T, false> b{w, per_group, 1, BatchStride{1, int64_t(g.Kg) * per_group, 0}, g.Kg, int(per_group)};
            ChannelsEpilogue<C> epilogue{columns, ld, BatchStride{1, per_group * ld, 0}, nullptr, BatchStride{}};
            launch_gemm<C>(a, b, epilogue, pixels, int(per_group), g.Kg, g.G, stream, tf32);
            launch_col2im(g, columns, 0, ld, p0, pixels, bias, p0 > 0, x_image, 0, 1, stream);
        }
    }
}

template <typename T>
void col2im_batch(const ConvGeometry& g, const T* columns, T* x, cudaStream_t stream) {
    const int64_t L = g.out_spatial;
    launch_col2im<T, T>(g, columns, int64_t(g.C) * g.taps * L, L, 0, L, nullptr, false, x, int64_t(g.C) * g.in_spatial,
                     g.N, stream);
}

#define FASTCONV_INSTANTIATE(T)                                                                              \
    template void gemm_col2im<T>(const ConvGeometry&, const T*, const T*, const T*, T*, cudaStream_t, bool); \
    template void col2im_batch<T>(const ConvGeometry&, const T*, T*, cudaStream_t);
FASTCONV_INSTANTIATE(float)
FASTCONV_INSTANTIATE(double)
FASTCONV_INSTANTIATE(__half)
FASTCONV_INSTANTIATE(__nv_bfloat16)
#undef FASTCONV_INSTANTIATE

}  // namespace fastconv::cuda
