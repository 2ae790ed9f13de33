// The CUDA seam of the build: device discovery, compiled whenever FASTCONV_CUDA finds nvcc. The
// kernel families (direct.cu, im2col_gemm.cu, implicit_gemm.cu, transposed.cu) join this folder in
// their own issue. A wheel built with CUDA must still import and run on the CPU on a machine with no
// GPU or no driver, so every failure here means "no devices", never an exception.
#include <cuda_runtime.h>

namespace fastconv::cuda {

int device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver" error so later queries start clean
        return 0;
    }
    return count;
}

}  // namespace fastconv::cuda
