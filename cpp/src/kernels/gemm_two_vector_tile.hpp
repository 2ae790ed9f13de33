// The GEMM microkernel body every SIMD ISA shares: an MR x 2-vector register tile over a k loop
// that loads the B row's two vectors and broadcasts one A value per row, A's k steps lda apart.
// Each ISA file (gemm_<isa>.cpp, compiled with its own flags) instantiates it over a vector traits type V
// (Scalar, Vec, lanes, zero, load, store, broadcast, fma: vec_<isa>.hpp, or NEON's in its file)
// in an anonymous namespace, so every instantiation is local to that file and its instruction set. Every element is
// one FMA chain over k in order, starting from C or zero, independent of its place in the tile.
#pragma once

#include <cstdint>

namespace fastconv::gemm {

template <typename V, int MR>
inline void two_vector_tile_impl(int64_t kc, const typename V::Scalar* a, int64_t lda, const typename V::Scalar* b,
                                 typename V::Scalar* c, int64_t ldc, bool accumulate) {
    constexpr int NR = 2 * V::lanes;
    typename V::Vec acc[MR][2];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        acc[i][0] = accumulate ? V::load(c + i * ldc) : V::zero();
        acc[i][1] = accumulate ? V::load(c + i * ldc + V::lanes) : V::zero();
    }
    for (int64_t p = 0; p < kc; ++p) {
        const typename V::Vec b0 = V::load(b);
        const typename V::Vec b1 = V::load(b + V::lanes);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const typename V::Vec a_ip = V::broadcast(a + i);
            acc[i][0] = V::fma(a_ip, b0, acc[i][0]);
            acc[i][1] = V::fma(a_ip, b1, acc[i][1]);
        }
        a += lda;
        b += NR;
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        V::store(c + i * ldc, acc[i][0]);
        V::store(c + i * ldc + V::lanes, acc[i][1]);
    }
}

// A packed sliver's stride is the constant MR: its own instantiation keeps the immediate step the
// k loop had before A could be strided (with a run-time stride resnet_1x1_56 ran ~3% slower on
// Zen 3, minima of alternated processes).
template <typename V, int MR>
inline void two_vector_tile(int64_t kc, const typename V::Scalar* a, int64_t lda, const typename V::Scalar* b,
                            typename V::Scalar* c, int64_t ldc, bool accumulate) {
    if (lda == MR) two_vector_tile_impl<V, MR>(kc, a, MR, b, c, ldc, accumulate);
    else two_vector_tile_impl<V, MR>(kc, a, lda, b, c, ldc, accumulate);
}

}  // namespace fastconv::gemm
