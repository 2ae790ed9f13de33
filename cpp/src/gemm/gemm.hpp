// Packed GEMM, BLIS-style: the blocking, packing and loop nest are portable C++ written once
// (gemm.cpp); only the MR x NR register-tile microkernel is per-ISA (cpp/src/kernels/gemm_*.cpp).
// Everything that multiplies matrices (im2col, 1x1, GEMM + col2im) calls this.
//
// Operands are strided views, so a transposed operand (the weights of a transposed convolution) is
// just a view with swapped strides: packing reads through the strides and the microkernel never
// knows. C is row-major with unit column stride.
#pragma once

#include <cstdint>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace fastconv::gemm {

// Element (i, j) lives at data[i * row_stride + j * col_stride].
template <typename T>
struct ConstMatrix {
    const T* data;
    int64_t row_stride;
    int64_t col_stride;
};

// A microkernel computes one MR x NR tile of C from panels over kc steps:
//   a_panel[p * lda + i] = A(i, p),  b_panel[p * NR + j] = B(p, j),
//   C(i, j) = (accumulate ? C(i, j) : 0) + sum_p A(i, p) * B(p, j)     for i < MR, j < NR.
// A packed sliver has lda = MR; a block of A copied column by column has lda = its column length
// (see gemm.cpp). kc may be 0 (then C is zeroed or left as is). Edge tiles never reach it
// partially: the framework zero-pads the panels and stores through a small local tile.
template <typename T>
using UkernelFn = void (*)(int64_t kc, const T* a_panel, int64_t lda, const T* b_panel, T* c, int64_t ldc,
                           bool accumulate);

template <typename T>
struct Ukernel {
    const char* name;  // e.g. "f32_gemm_ukernel_6x16__avx2_fma"
    Isa isa;           // the instruction set the kernel needs
    int mr;
    int nr;
    UkernelFn<T> fn;
};

// Every compiled microkernel for T, best ISA first, ending with the portable one; an ISA's main
// (two-vector) kernel comes before its narrow (one-vector) one. Tests and benchmarks iterate over
// this list; dispatch takes the first whose ISA is <= active_isa().
template <typename T>
const std::vector<Ukernel<T>>& ukernels();

template <typename T>
const Ukernel<T>& active_ukernel();

// The active ISA's narrow kernel (nullptr where it has none), which gemm() uses for a C of at most
// its NR columns: same bits as the main kernel, twice the rows per tile instead of half the
// columns spent on padding.
template <typename T>
const Ukernel<T>* active_narrow_ukernel();

// C(M x N) = A(M x K) * B(K x N), plus C's previous contents when accumulate is true.
// Single-threaded: convolution algorithms parallelise over their own independent tiles, and the
// result never depends on how they split the work (the K loop order is fixed).
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, ConstMatrix<T> A, ConstMatrix<T> B, T* C, int64_t ldc,
          bool accumulate);

// The same with an explicit microkernel (for tests and benchmarks of each ISA).
template <typename T>
void gemm_with(const Ukernel<T>& ukernel, int64_t M, int64_t N, int64_t K, ConstMatrix<T> A,
               ConstMatrix<T> B, T* C, int64_t ldc, bool accumulate);

}  // namespace fastconv::gemm
