// AVX2+FMA vector traits for the kernel bodies written once over a traits type
// (gemm_vector_tile.hpp, conv_chw_flat_tile.hpp, dwconv_chw_row.hpp; igemm_avx512.cpp's
// 256-bit column tiles). Include only from files compiled with the AVX2 flags (kernels/*_avx2.cpp,
// and kernels/*_avx512.cpp, whose flags include them). The anonymous namespace keeps each including
// file's copy, and every template instantiated over it, local to that file and its flags.
#pragma once

#include <immintrin.h>

namespace fastconv::simd {
namespace {

struct F32Ymm {
    using Scalar = float;
    using Vec = __m256;
    static constexpr int lanes = 8;
    static Vec zero() { return _mm256_setzero_ps(); }
    static Vec load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
    static Vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
    static Vec set1(float v) { return _mm256_set1_ps(v); }
    static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
};

struct F64Ymm {
    using Scalar = double;
    using Vec = __m256d;
    static constexpr int lanes = 4;
    static Vec zero() { return _mm256_setzero_pd(); }
    static Vec load(const double* p) { return _mm256_loadu_pd(p); }
    static void store(double* p, Vec v) { _mm256_storeu_pd(p, v); }
    static Vec broadcast(const double* p) { return _mm256_broadcast_sd(p); }
    static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_pd(a, b, c); }
};

}  // namespace
}  // namespace fastconv::simd
