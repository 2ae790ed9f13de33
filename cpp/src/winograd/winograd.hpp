// Winograd convolution F(m x m, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks"): the output is cut into m x m tiles; each tile's (m+2) x (m+2) input patch d becomes
// V = B^T d B, each 3x3 filter g becomes U = G g G^T, the alpha^2 = (m+2)^2 positions of the
// transformed tiles are independent GEMMs M[xi] = V[xi] (tiles x C) * U[xi] (C x K) run on the packed
// GEMM's microkernels (gemm/gemm.hpp) with operands the transforms write already packed, and
// Y = A^T M A brings each tile back. F(2x2, 3x3) needs 16 products per 4 outputs, F(4x4, 3x3) 36
// per 16, against 36 and 144 for direct summation (2.25x and 4x fewer). A dilated problem is
// dh x dw undilated ones, one per phase of outputs congruent modulo the dilation, each tiled on
// its own with taps and tiles stepping by the dilation in memory.
//
// The transforms are per-ISA kernels (kernels/winograd_<isa>.cpp) vectorised over channels: the
// input and output tiles over the channels of one pixel, which channels-last memory keeps adjacent,
// the filters over output channels. The tile loops, the packing and the GEMM calls are portable
// (winograd.cpp). docs/winograd.md has the matrices, the measured accuracy and the rule "auto"
// uses.
#pragma once

#include <cstdint>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace fastconv::winograd {

// Input transform of `tiles` <= mr <= 16 tiles, every channel, written as the GEMM's packed left
// operand (one MR-row sliver per position xi): d holds alpha * alpha pointers per tile, row-major
// over the tile, each to `channels` contiguous values of one input pixel (or to zeros for
// padding); writes V[xi][tile][c] = (B^T d B)[xi] to v[xi * v_stride + c * mr + tile], and zeros
// for tiles in [tiles, mr).
// The largest GEMM row tile (MR) the packed input layout supports.
constexpr int kMaxGemmRows = 16;

template <typename T>
using InputFn = void (*)(int64_t channels, int64_t tiles, int mr, const T* const* d, T* v, int64_t v_stride);

// Output transform of one tile, every channel: reads M[xi][c] = m[xi * m_stride + c], writes
// (A^T M A)[i][j] + bias[c] (bias may be null) to y[i * y_row_stride + j * y_pixel_stride + c] for the
// rows x cols pixels that lie inside the output (a tail tile is clipped, never written past).
template <typename T>
using OutputFn = void (*)(int64_t channels, const T* m, int64_t m_stride, const T* bias, T* y, int64_t y_row_stride,
                          int64_t y_pixel_stride, int64_t rows, int64_t cols);

// Filter transform of one input channel's filters for `count` output channels: reads tap t of
// output channel k at w[t * w_stride + k] (t < 9, row-major over the 3x3 kernel), writes
// U[xi][k] = (G g G^T)[xi] to u[xi * u_stride + k].
template <typename T>
using FilterFn = void (*)(int64_t count, const T* w, int64_t w_stride, T* u, int64_t u_stride);

template <typename T>
struct Ukernel {
    const char* name;  // e.g. "f32_winograd_4x4_3x3__avx512f"
    Isa isa;
    int m;  // output tile size: 2 or 4
    FilterFn<T> filter;
    InputFn<T> input;
    OutputFn<T> output;
};

// Every compiled transform pair for T, best ISA first, ending with the portable ones.
template <typename T>
const std::vector<Ukernel<T>>& ukernels();

// The best pair of tile size m the active ISA allows.
template <typename T>
const Ukernel<T>& active_ukernel(int m);

// The transformed filters of a problem with tile size m, U[g][xi] (KD C/groups x K/groups, KD the
// kernel's depth, 1 in 2-D), packed as the right-hand operand of the active GEMM microkernel: per
// NR-wide column sliver, depth tap by depth tap; filter_elements<T>(p, m) values.
template <typename T>
int64_t filter_elements(const ConvProblem& p, int m);

// How the weights the filter transform reads lie: as the forward weight (K, C/groups, KD, 3, 3), or
// tap-major, (C, 9, K) with groups = 1 and KD = 1: input channel c's tap t of every output channel
// in one row, which the transform reads without transposing (the sub-pixel form writes it so).
enum class FilterLayout { forward, tap_major };

template <typename T>
void transform_filter(const Ukernel<T>& ukernel, const ConvProblem& p, const T* weight, T* u,
                      FilterLayout layout = FilterLayout::forward);

// Whether a call (functional or a plan's run) runs p with run_fused_filter: a 2-D problem whose
// transformed filters weigh at least as much as all tiles' transformed inputs and products, which
// then fit in one block. 3-D problems never do: they sweep the depth with a whole U.
template <typename T>
bool fuses_filter_transform(const ConvProblem& p, int m);

// Where run_channels_last and run_fused_filter put the output of a transposed convolution run as
// its sub-pixel forward problem (algos/winograd.cpp, winograd_sub_pixel_problem): output channel
// block b = ry * stride_w + rx (`channels` wide) of pixel (h, w) is pixel (stride_h * h + ry,
// stride_w * w + rx) of a channels-last height x width image; pixels past its edge are dropped.
// The bias has `channels` values, the same for every block.
struct SubPixelOutput {
    int64_t stride_h, stride_w, channels, height, width;
};

// y = conv(x) + bias for a forward 2-D 3x3 stride-1 problem in either layout, transforming the
// filters chunk by chunk inside the GEMM tasks that use them (bitwise the same as transform_filter
// followed by run_channels_last or run_channels_first). `scatter` as for run_channels_last, on
// channels-last memory only.
template <typename T>
void run_fused_filter(const Ukernel<T>& ukernel, const ConvProblem& p, const T* weight, const T* x, const T* bias,
                      T* y, const SubPixelOutput* scatter = nullptr, FilterLayout layout = FilterLayout::forward);

// y = conv(x) + bias on channels-last x and y (N, H, W, C) for a forward 2-D 3x3 stride-1 problem,
// with u from transform_filter with the same kernel; with `scatter`, y is laid out as it says.
template <typename T>
void run_channels_last(const Ukernel<T>& ukernel, const ConvProblem& p, const T* u, const T* x, const T* bias, T* y,
                       const SubPixelOutput* scatter = nullptr);

// The same on channels-first x and y (N, C, H, W).
template <typename T>
void run_channels_first(const Ukernel<T>& ukernel, const ConvProblem& p, const T* u, const T* x, const T* bias,
                        T* y);

// Tiles per image of F(m x m, 3x3) for p's output (every dilation phase tiled as the largest),
// and the GEMM rows F(m x m) runs per pair of
// channels: the batch's tiles rounded up to whole row tiles of the active GEMM microkernel (which
// computes the padding rows too), times alpha^2.
int64_t tiles_per_image(const ConvProblem& p, int m);
int64_t gemm_products(const ConvProblem& p, int m);

// Whether F(2x2, 3x3) should run p rather than F(4x4, 3x3): when it needs at most 25% more GEMM
// products. Its transformed filters are 2.25x smaller (16 vs 36 values per 3x3 filter), which
// pays on layers with few tiles and many channels: measured on one AVX-512 core, resnet_3x3_14 and
// _7 at batch 1 run 1.3x faster with F(2x2), and 4 images of 7x7 x 512 channels (11% more
// products) 1.3-1.9x, while resnet_3x3_28 (55% more) is 13% slower.
bool prefers_2x2(const ConvProblem& p);

// The kernels, one file per ISA.
void f32_winograd_filter_4x4_3x3__scalar(int64_t, const float*, int64_t, float*, int64_t);
void f32_winograd_filter_2x2_3x3__scalar(int64_t, const float*, int64_t, float*, int64_t);
void f64_winograd_filter_4x4_3x3__scalar(int64_t, const double*, int64_t, double*, int64_t);
void f64_winograd_filter_2x2_3x3__scalar(int64_t, const double*, int64_t, double*, int64_t);
void f32_winograd_filter_4x4_3x3__avx2_fma(int64_t, const float*, int64_t, float*, int64_t);
void f32_winograd_filter_2x2_3x3__avx2_fma(int64_t, const float*, int64_t, float*, int64_t);
void f64_winograd_filter_4x4_3x3__avx2_fma(int64_t, const double*, int64_t, double*, int64_t);
void f64_winograd_filter_2x2_3x3__avx2_fma(int64_t, const double*, int64_t, double*, int64_t);
void f32_winograd_filter_4x4_3x3__avx512f(int64_t, const float*, int64_t, float*, int64_t);
void f32_winograd_filter_2x2_3x3__avx512f(int64_t, const float*, int64_t, float*, int64_t);
void f64_winograd_filter_4x4_3x3__avx512f(int64_t, const double*, int64_t, double*, int64_t);
void f64_winograd_filter_2x2_3x3__avx512f(int64_t, const double*, int64_t, double*, int64_t);
void f32_winograd_input_4x4_3x3__scalar(int64_t, int64_t, int, const float* const*, float*, int64_t);
void f32_winograd_output_4x4_3x3__scalar(int64_t, const float*, int64_t, const float*, float*, int64_t, int64_t,
                                         int64_t, int64_t);
void f32_winograd_input_2x2_3x3__scalar(int64_t, int64_t, int, const float* const*, float*, int64_t);
void f32_winograd_output_2x2_3x3__scalar(int64_t, const float*, int64_t, const float*, float*, int64_t, int64_t,
                                         int64_t, int64_t);
void f64_winograd_input_4x4_3x3__scalar(int64_t, int64_t, int, const double* const*, double*, int64_t);
void f64_winograd_output_4x4_3x3__scalar(int64_t, const double*, int64_t, const double*, double*, int64_t, int64_t,
                                         int64_t, int64_t);
void f64_winograd_input_2x2_3x3__scalar(int64_t, int64_t, int, const double* const*, double*, int64_t);
void f64_winograd_output_2x2_3x3__scalar(int64_t, const double*, int64_t, const double*, double*, int64_t, int64_t,
                                         int64_t, int64_t);

void f32_winograd_input_4x4_3x3__avx2_fma(int64_t, int64_t, int, const float* const*, float*, int64_t);
void f32_winograd_output_4x4_3x3__avx2_fma(int64_t, const float*, int64_t, const float*, float*, int64_t, int64_t,
                                           int64_t, int64_t);
void f32_winograd_input_2x2_3x3__avx2_fma(int64_t, int64_t, int, const float* const*, float*, int64_t);
void f32_winograd_output_2x2_3x3__avx2_fma(int64_t, const float*, int64_t, const float*, float*, int64_t, int64_t,
                                           int64_t, int64_t);
void f64_winograd_input_4x4_3x3__avx2_fma(int64_t, int64_t, int, const double* const*, double*, int64_t);
void f64_winograd_output_4x4_3x3__avx2_fma(int64_t, const double*, int64_t, const double*, double*, int64_t, int64_t,
                                           int64_t, int64_t);
void f64_winograd_input_2x2_3x3__avx2_fma(int64_t, int64_t, int, const double* const*, double*, int64_t);
void f64_winograd_output_2x2_3x3__avx2_fma(int64_t, const double*, int64_t, const double*, double*, int64_t, int64_t,
                                           int64_t, int64_t);

void f32_winograd_input_4x4_3x3__avx512f(int64_t, int64_t, int, const float* const*, float*, int64_t);
void f32_winograd_output_4x4_3x3__avx512f(int64_t, const float*, int64_t, const float*, float*, int64_t, int64_t,
                                          int64_t, int64_t);
void f32_winograd_input_2x2_3x3__avx512f(int64_t, int64_t, int, const float* const*, float*, int64_t);
void f32_winograd_output_2x2_3x3__avx512f(int64_t, const float*, int64_t, const float*, float*, int64_t, int64_t,
                                          int64_t, int64_t);
void f64_winograd_input_4x4_3x3__avx512f(int64_t, int64_t, int, const double* const*, double*, int64_t);
void f64_winograd_output_4x4_3x3__avx512f(int64_t, const double*, int64_t, const double*, double*, int64_t, int64_t,
                                          int64_t, int64_t);
void f64_winograd_input_2x2_3x3__avx512f(int64_t, int64_t, int, const double* const*, double*, int64_t);
void f64_winograd_output_2x2_3x3__avx512f(int64_t, const double*, int64_t, const double*, double*, int64_t, int64_t,
                                          int64_t, int64_t);

}  // namespace fastconv::winograd
