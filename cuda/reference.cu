// The GPU ground truth: one thread per output element, straight from the definition, summed in
// double, sharing nothing with the fast kernels but ConvGeometry. The transposed op is a gather:
// each x element finds the y elements whose taps reach it (i + pad - r*dil must be a multiple of
// the stride and land inside y). Half-precision values are widened exactly. Launch: 1-D grid-stride loop, 256 threads per block.
#include "common.cuh"

namespace fastconv::cuda {
namespace {

template <typename T>
__global__ void reference_forward_kernel(ConvGeometry g, const T* __restrict__ x, const T* __restrict__ w,
                                         const T* __restrict__ bias, T* __restrict__ y, int64_t total) {
    for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
        const int ow = int(e % g.out[2]);
        const int oh = int(e / g.out[2] % g.out[1]);
        const int od = int(e / (int64_t(g.out[2]) * g.out[1]) % g.out[0]);
        const int k = int(e / g.out_spatial % g.K);
        const int n = int(e / (g.out_spatial * g.K));
        const int group = k / g.Kg;
        double acc = bias ? double(to_compute(bias[k])) : 0.0;
        for (int c = 0; c < g.Cg; ++c)
            for (int kd = 0; kd < g.ker[0]; ++kd)
                for (int kh = 0; kh < g.ker[1]; ++kh)
                    for (int kw = 0; kw < g.ker[2]; ++kw) {
                        const int id = od * g.stride[0] - g.pad[0] + kd * g.dil[0];
                        const int ih = oh * g.stride[1] - g.pad[1] + kh * g.dil[1];
                        const int iw = ow * g.stride[2] - g.pad[2] + kw * g.dil[2];
                        if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1] || iw < 0 || iw >= g.in[2]) continue;
                        const T xv = x[(int64_t(n) * g.C + group * g.Cg + c) * g.in_spatial +
                                       (int64_t(id) * g.in[1] + ih) * g.in[2] + iw];
                        const T wv = w[((int64_t(k) * g.Cg + c) * g.ker[0] + kd) * g.ker[1] * g.ker[2] +
                                       kh * g.ker[2] + kw];
                        acc += double(to_compute(xv)) * double(to_compute(wv));
                    }
        y[e] = from_compute<T>(compute_t<T>(acc));
    }
}

// The y position whose tap r reaches x position i along one dimension, or -1.
__device__ int source_of(int i, int r, int stride, int dil, int pad, int out) {
    const int t = i + pad - r * dil;
    if (t < 0 || t % stride != 0) return -1;
    return t / stride < out ? t / stride : -1;
}

template <typename T>
__global__ void reference_transposed_kernel(ConvGeometry g, const T* __restrict__ y, const T* __restrict__ w,
                                            const T* __restrict__ bias, T* __restrict__ x, int64_t total) {
    for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
        const int iw = int(e % g.in[2]);
        const int ih = int(e / g.in[2] % g.in[1]);
        const int id = int(e / (int64_t(g.in[2]) * g.in[1]) % g.in[0]);
        const int c = int(e / g.in_spatial % g.C);
        const int n = int(e / (g.in_spatial * g.C));
        const int group = c / g.Cg, cl = c % g.Cg;
        double acc = bias ? double(to_compute(bias[c])) : 0.0;
        for (int kl = 0; kl < g.Kg; ++kl)
            for (int kd = 0; kd < g.ker[0]; ++kd)
                for (int kh = 0; kh < g.ker[1]; ++kh)
                    for (int kw = 0; kw < g.ker[2]; ++kw) {
                        const int od = source_of(id, kd, g.stride[0], g.dil[0], g.pad[0], g.out[0]);
                        const int oh = source_of(ih, kh, g.stride[1], g.dil[1], g.pad[1], g.out[1]);
                        const int ow = source_of(iw, kw, g.stride[2], g.dil[2], g.pad[2], g.out[2]);
                        if (od < 0 || oh < 0 || ow < 0) continue;
                        const int k = group * g.Kg + kl;
                        const T yv = y[(int64_t(n) * g.K + k) * g.out_spatial + (int64_t(od) * g.out[1] + oh) * g.out[2] + ow];
                        const T wv = w[((int64_t(k) * g.Cg + cl) * g.ker[0] + kd) * g.ker[1] * g.ker[2] +
                                       kh * g.ker[2] + kw];
                        acc += double(to_compute(yv)) * double(to_compute(wv));
                    }
        x[e] = from_compute<T>(compute_t<T>(acc));
    }
}

}  // namespace

template <typename T>
void reference_conv(const ConvGeometry& g, bool transposed, const T* src, const T* w, const T* bias, T* dst,
                    cudaStream_t stream) {
    const int64_t total = transposed ? int64_t(g.N) * g.C * g.in_spatial : int64_t(g.N) * g.K * g.out_spatial;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(blocks_for(total, 256), 1 << 20));
    if (transposed)
        reference_transposed_kernel<<<blocks, 256, 0, stream>>>(g, src, w, bias, dst, total);
    else
        reference_forward_kernel<<<blocks, 256, 0, stream>>>(g, src, w, bias, dst, total);
    CUDA_CHECK_LAUNCH();
}

#define FASTCONV_INSTANTIATE(T) \
    template void reference_conv<T>(const ConvGeometry&, bool, const T*, const T*, const T*, T*, cudaStream_t);
FASTCONV_INSTANTIATE(float)
FASTCONV_INSTANTIATE(double)
FASTCONV_INSTANTIATE(__half)
FASTCONV_INSTANTIATE(__nv_bfloat16)
#undef FASTCONV_INSTANTIATE

}  // namespace fastconv::cuda
