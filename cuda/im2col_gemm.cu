// Explicit im2col + GEMM (forward), and unfold.
//
// im2col kernel: one thread per column-buffer element (row = c * taps + tap, column = output pixel),
// consecutive threads along pixels so the writes coalesce; padding reads become zeros. Launch: 1-D
// grid-stride over rows x pixels of one chunk, blockIdx.y over images (unfold).
//
// The column buffer is bounded: it holds all C * taps rows for a chunk of output pixels, the chunk
// sized so the buffer stays under kWorkspaceCapBytes (64 MiB) and cut at whole output rows when it
// is smaller than the image, whatever the layer. Each chunk is one batched GEMM over the groups
// (gemm_tile.cuh): C (pixels x Kg) = columns^T (pixels x Cg*taps) * W_g^T, written straight into
// y's channel planes with the bias added in the epilogue; chunks write disjoint pixels, so nothing
// accumulates across launches and the result does not depend on the chunk size.
#include "gemm_tile.cuh"

namespace fastconv::cuda {
namespace {

template <typename T>
__global__ void im2col_kernel(ConvGeometry g, const T* __restrict__ x, int64_t x_image_stride, T* __restrict__ columns,
                              int64_t columns_image_stride, int64_t ld, int64_t p0, int pixels) {
    const int64_t total = int64_t(g.C) * g.taps * pixels;
    const T* image = x + blockIdx.y * x_image_stride;
    T* out = columns + blockIdx.y * columns_image_stride;
    for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
        const int local = int(e % pixels);
        const int64_t row = e / pixels;
        const int tap = int(row % g.taps), c = int(row / g.taps);
        const int kw = tap % g.ker[2], kh = tap / g.ker[2] % g.ker[1], kd = tap / (g.ker[2] * g.ker[1]);
        const int64_t p = p0 + local;
        const int ow = int(p % g.out[2]), oh = int(p / g.out[2] % g.out[1]), od = int(p / (int64_t(g.out[2]) * g.out[1]));
        const int id = od * g.stride[0] - g.pad[0] + kd * g.dil[0];
        const int ih = oh * g.stride[1] - g.pad[1] + kh * g.dil[1];
        const int iw = ow * g.stride[2] - g.pad[2] + kw * g.dil[2];
        const bool inside = id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2];
        out[row * ld + local] = inside ? image[c * g.in_spatial + (int64_t(id) * g.in[1] + ih) * g.in[2] + iw]
                                       : from_compute<T>(compute_t<T>(0));
    }
}

template <typename T>
void launch_im2col(const ConvGeometry& g, const T* x, int64_t x_image_stride, T* columns, int64_t columns_image_stride,
                   int64_t ld, int64_t p0, int pixels, int images, cudaStream_t stream) {
    const int64_t total = int64_t(g.C) * g.taps * pixels;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(blocks_for(total, 256), 1 << 16));
    for (int first = 0; first < images; first += 65535) {
        const int count = std::min(images - first, 65535);
        im2col_kernel<<<dim3(blocks, count), 256, 0, stream>>>(g, x + first * x_image_stride, x_image_stride,
                                                                columns + first * columns_image_stride,
                                                                columns_image_stride, ld, p0, pixels);
        CUDA_CHECK_LAUNCH();
    }
}

}  // namespace

template <typename T>
void im2col_gemm(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, cudaStream_t stream, bool tf32) {
    const int64_t rows = int64_t(g.C) * g.taps, P = g.out_spatial, reduction = int64_t(g.Cg) * g.taps;
    const ColumnChunk plan = column_chunk(rows, P, g.out[2], sizeof(T), kWorkspaceCapBytes);
    const int64_t chunk = plan.pixels, ld = plan.ld;
    Workspace workspace(size_t(rows * ld) * sizeof(T), stream);
    T* columns = workspace.as<T>();
    for (int n = 0; n < g.N; ++n) {
        for (int64_t p0 = 0; p0 < P; p0 += chunk) {
            const int pixels = int(std::min(chunk, P - p0));
            launch_im2col(g, x + int64_t(n) * g.C * g.in_spatial, 0, columns, 0, ld, p0, pixels, 1, stream);
            const BatchStride a_batch{1, reduction * ld, 0};
            DenseA<T> a{columns, ld, a_batch, pixels, int(reduction), dense_vector_ok(columns, ld, a_batch)};
            StridedB<T, true> b{w, 1, reduction, BatchStride{1, int64_t(g.Kg) * reduction, 0}, int(reduction), g.Kg};
            ChannelsEpilogue<T> epilogue{y + (int64_t(n) * g.K) * P + p0, P, BatchStride{1, int64_t(g.Kg) * P, 0}, bias,
                                         BatchStride{1, g.Kg, 0}};
            launch_gemm<compute_t<T>>(a, b, epilogue, pixels, g.Kg, int(reduction), g.G, stream, tf32);
        }
    }
}

template <typename T>
void im2col_batch(const ConvGeometry& g, const T* x, T* columns, cudaStream_t stream) {
    const int64_t L = g.out_spatial;
    launch_im2col(g, x, int64_t(g.C) * g.in_spatial, columns, int64_t(g.C) * g.taps * L, L, 0, int(L), g.N, stream);
}

#define FASTCONV_INSTANTIATE(T)                                                                              \
    template void im2col_gemm<T>(const ConvGeometry&, const T*, const T*, const T*, T*, cudaStream_t, bool); \
    template void im2col_batch<T>(const ConvGeometry&, const T*, T*, cudaStream_t);
FASTCONV_INSTANTIATE(float)
FASTCONV_INSTANTIATE(double)
FASTCONV_INSTANTIATE(__half)
FASTCONV_INSTANTIATE(__nv_bfloat16)
#undef FASTCONV_INSTANTIATE

}  // namespace fastconv::cuda
