// The GEMM microkernel body every SIMD ISA shares: an MR x NV-vector register tile over a k loop
// that loads the B row's NV vectors and broadcasts one A value per row, A's k steps lda apart.
// Two vectors is each ISA's main tile; one vector, with about twice the rows, its narrow tile for
// a C at most one vector wide (dcgan_up_4x4's 16 output pixels), where the main tile would
// compute half its columns on zero padding. Each ISA file (gemm_<isa>.cpp, compiled with its own
// flags) instantiates it over a vector traits type V (Scalar, Vec, lanes, zero, load, store,
// broadcast, fma: vec_<isa>.hpp, or NEON's in its file) in an anonymous namespace, so every
// instantiation is local to that file and its instruction set. Every element is one FMA chain over
// k in order, starting from C or zero, independent of its place in the tile and of the tile's
// shape: the narrow and main tiles give the same bits.
#pragma once

#include <cstdint>

namespace fastconv::gemm {

template <typename V, int MR, int NV>
inline void vector_tile_impl(int64_t kc, const typename V::Scalar* a, int64_t lda, const typename V::Scalar* b,
                             typename V::Scalar* c, int64_t ldc, bool accumulate) {
    constexpr int NR = NV * V::lanes;
    typename V::Vec acc[MR][NV];
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[i][v] = accumulate ? V::load(c + i * ldc + v * V::lanes) : V::zero();
    for (int64_t p = 0; p < kc; ++p) {
        typename V::Vec bv[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * V::lanes);
#pragma GCC unroll 32
        for (int i = 0; i < MR; ++i) {
            const typename V::Vec a_ip = V::broadcast(a + i);
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(a_ip, bv[v], acc[i][v]);
        }
        a += lda;
        b += NR;
    }
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) V::store(c + i * ldc + v * V::lanes, acc[i][v]);
}

// A packed sliver's stride is the constant MR: its own instantiation keeps the immediate step the
// k loop had before A could be strided (with a run-time stride resnet_1x1_56 ran ~3% slower on
// Zen 3, minima of alternated processes).
template <typename V, int MR, int NV>
inline void vector_tile(int64_t kc, const typename V::Scalar* a, int64_t lda, const typename V::Scalar* b,
                        typename V::Scalar* c, int64_t ldc, bool accumulate) {
    if (lda == MR) vector_tile_impl<V, MR, NV>(kc, a, MR, b, c, ldc, accumulate);
    else vector_tile_impl<V, MR, NV>(kc, a, lda, b, c, ldc, accumulate);
}

}  // namespace fastconv::gemm
