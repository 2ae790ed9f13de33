// AVX-512 peak loop: 12 zmm chains cover a 4-cycle FMA latency on two 512-bit FMA ports.
#include <immintrin.h>

#include "kernels/fma_peak.hpp"

namespace fastconv {

double f32_fma_peak__avx512f(int64_t iterations) {
    constexpr int kChains = 12;
    __m512 acc[kChains];
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
        for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    __m512 sum = acc[0];
#pragma GCC unroll 16
    for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
    volatile float sink = _mm512_cvtss_f32(sum);
    (void)sink;
    return 2.0 * 16 * kChains * static_cast<double>(iterations);
}

}  // namespace fastconv
