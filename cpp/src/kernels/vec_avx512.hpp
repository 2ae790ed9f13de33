// AVX-512 vector traits for the kernel bodies written once over a traits type
// (gemm_vector_tile.hpp, conv_chw_flat_tile.hpp, dwconv_chw_row.hpp). Include only from files
// compiled with the AVX-512 flags (kernels/*_avx512.cpp). The anonymous namespace keeps each including
// file's copy, and every template instantiated over it, local to that file and its flags.
#pragma once

#include <immintrin.h>

namespace fastconv::simd {
namespace {

struct F32Zmm {
    using Scalar = float;
    using Vec = __m512;
    static constexpr int lanes = 16;
    static Vec zero() { return _mm512_setzero_ps(); }
    static Vec load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
    static Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
    static Vec set1(float v) { return _mm512_set1_ps(v); }
    static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
};

struct F64Zmm {
    using Scalar = double;
    using Vec = __m512d;
    static constexpr int lanes = 8;
    static Vec zero() { return _mm512_setzero_pd(); }
    static Vec load(const double* p) { return _mm512_loadu_pd(p); }
    static void store(double* p, Vec v) { _mm512_storeu_pd(p, v); }
    static Vec broadcast(const double* p) { return _mm512_set1_pd(*p); }
    static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_pd(a, b, c); }
};

}  // namespace
}  // namespace fastconv::simd
