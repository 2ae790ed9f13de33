// The arithmetic of the Winograd transforms (filter, input tile, output tile), written once over a
// small vector-operations type and included by each kernels/winograd_<isa>.cpp, which supplies the
// operations for its registers (AVX-512, AVX2 or plain scalars). Everything here has internal linkage, so each ISA
// file compiles its own copy with its own flags and the linker can never hand an AVX-512 copy to
// a CPU without it.
//
// Interpolation points 0, 1, -1, 2, -1/2 (and infinity) for F(4x4, 3x3), 0, 1, -1 for F(2x2, 3x3).
// For F(4x4) these replace Lavin's 0, +-1, +-2: the same float32 cost within a few operations and
// 2.5x less worst-case error (docs/winograd.md has the measurement); every matrix entry is a dyadic
// fraction except G's thirds and fifteenths, which the filter transform rounds once. The 1-D
// transforms share subexpressions (17 add/FMA per column of the 6-point input transform).
#pragma once

#include <cstdint>
#include <type_traits>

#include "winograd/winograd.hpp"

namespace fastconv::winograd {
namespace {

// Ops supplies: T, V (kLanes values of T), Mask, mask(n) for the first n lanes,
// load<Full>/store<Full> (Full: every lane, no mask needed), add, sub, zero, and for a scalar
// constant k: mul(a, k) = a * k and fma(a, k, b) = a * k + b.

// r = G g for F(4, 3), points 0, 1, -1, 2, -1/2: rows (1, 0, 0), -1/3 (1, 1, 1), 1/3 (1, -1, 1),
// 1/15 (1, 2, 4), -4/15 (4, -2, 1), (0, 0, 1).
template <class Ops>
inline void filter_1d_f4(const typename Ops::V* g, typename Ops::V* r) {
    using O = Ops;
    using T = typename Ops::T;
    const auto a = O::add(g[0], g[2]);
    r[0] = g[0];
    r[1] = O::mul(O::add(a, g[1]), T(-1.0 / 3));
    r[2] = O::mul(O::sub(a, g[1]), T(1.0 / 3));
    r[3] = O::mul(O::fma(g[2], 4, O::fma(g[1], 2, g[0])), T(1.0 / 15));
    r[4] = O::mul(O::fma(g[0], 4, O::fma(g[1], -2, g[2])), T(-4.0 / 15));
    r[5] = g[2];
}

// r = G g for F(2, 3): rows (1, 0, 0), 1/2 (1, 1, 1), 1/2 (1, -1, 1), (0, 0, 1).
template <class Ops>
inline void filter_1d_f2(const typename Ops::V* g, typename Ops::V* r) {
    using O = Ops;
    using T = typename Ops::T;
    const auto a = O::add(g[0], g[2]);
    r[0] = g[0];
    r[1] = O::mul(O::add(a, g[1]), T(0.5));
    r[2] = O::mul(O::sub(a, g[1]), T(0.5));
    r[3] = g[2];
}

// t = B^T d for F(4, 3): row j holds the coefficients of prod over the other finite points p of
// (x - p), the last row those of the product over all five.
template <class Ops>
inline void input_1d_f4(const typename Ops::V* d, typename Ops::V* t) {
    using O = Ops;
    const auto c = O::sub(d[4], d[2]), e = O::sub(d[1], d[3]);
    t[0] = O::fma(e, 1.5, O::fma(d[2], -2, O::add(d[0], d[4])));
    t[1] = O::fma(d[3], -0.5, O::fma(d[2], -2.5, O::sub(d[4], d[1])));
    t[2] = O::fma(d[3], -2.5, O::fma(d[2], 0.5, O::add(d[4], d[1])));
    t[3] = O::fma(e, -0.5, c);
    t[4] = O::fma(e, 2, c);
    t[5] = O::fma(O::sub(d[2], d[4]), 1.5, O::fma(d[3], -2, O::add(d[5], d[1])));
}

// o = A^T m for F(4, 3): row i holds the points' i-th powers (and 1 for infinity in the last row).
template <class Ops>
inline void output_1d_f4(const typename Ops::V* m, typename Ops::V* o) {
    using O = Ops;
    const auto p = O::add(m[1], m[2]), q = O::sub(m[1], m[2]);
    o[0] = O::add(O::add(m[0], p), O::add(m[3], m[4]));
    o[1] = O::fma(m[4], -0.5, O::fma(m[3], 2, q));
    o[2] = O::fma(m[4], 0.25, O::fma(m[3], 4, p));
    o[3] = O::add(O::fma(m[4], -0.125, O::fma(m[3], 8, q)), m[5]);
}

// t = B^T d for F(2, 3).
template <class Ops>
inline void input_1d_f2(const typename Ops::V* d, typename Ops::V* t) {
    using O = Ops;
    t[0] = O::sub(d[0], d[2]);
    t[1] = O::add(d[1], d[2]);
    t[2] = O::sub(d[2], d[1]);
    t[3] = O::sub(d[1], d[3]);
}

// o = A^T m for F(2, 3).
template <class Ops>
inline void output_1d_f2(const typename Ops::V* m, typename Ops::V* o) {
    using O = Ops;
    o[0] = O::add(O::add(m[0], m[1]), m[2]);
    o[1] = O::sub(O::sub(m[1], m[2]), m[3]);
}

template <class Ops, int M>
inline void filter_1d(const typename Ops::V* g, typename Ops::V* r) {
    if constexpr (M == 4) filter_1d_f4<Ops>(g, r);
    else filter_1d_f2<Ops>(g, r);
}

template <class Ops, int M>
inline void input_1d(const typename Ops::V* d, typename Ops::V* t) {
    if constexpr (M == 4) input_1d_f4<Ops>(d, t);
    else input_1d_f2<Ops>(d, t);
}

template <class Ops, int M>
inline void output_1d(const typename Ops::V* m, typename Ops::V* o) {
    if constexpr (M == 4) output_1d_f4<Ops>(m, o);
    else output_1d_f2<Ops>(m, o);
}

// One vector of output channels [k, k + lanes) of one input channel's filters: G g by columns,
// then (.) G^T by rows.
template <class Ops, int M, bool Full>
inline void filter_step(const typename Ops::T* w, int64_t w_stride, int64_t k, typename Ops::Mask mask,
                        typename Ops::T* u, int64_t u_stride) {
    using V = typename Ops::V;
    constexpr int A = M + 2;
    V t[A][3];
    for (int s = 0; s < 3; ++s) {
        V column[3], out[A];
        for (int r = 0; r < 3; ++r) column[r] = Ops::template load<Full>(w + (r * 3 + s) * w_stride + k, mask);
        filter_1d<Ops, M>(column, out);
        for (int i = 0; i < A; ++i) t[i][s] = out[i];
    }
    for (int i = 0; i < A; ++i) {
        V out[A];
        filter_1d<Ops, M>(t[i], out);
        for (int j = 0; j < A; ++j) Ops::template store<Full>(u + (i * A + j) * u_stride + k, out[j], mask);
    }
}

template <class Ops, int M>
void filter_tile(int64_t count, const typename Ops::T* w, int64_t w_stride, typename Ops::T* u, int64_t u_stride) {
    int64_t k = 0;
    for (; k + Ops::kLanes <= count; k += Ops::kLanes)
        filter_step<Ops, M, true>(w, w_stride, k, Ops::mask(Ops::kLanes), u, u_stride);
    if (k < count) filter_step<Ops, M, false>(w, w_stride, k, Ops::mask(count - k), u, u_stride);
}

// One vector of channels [c, c + lanes) of one tile: B^T d by columns, then (.) B by rows; position
// xi's vector goes to v + xi * v_stride.
template <class Ops, int M, bool Full>
inline void input_step(const typename Ops::T* const* d, int64_t c, typename Ops::Mask mask, typename Ops::T* v,
                       int64_t v_stride) {
    using V = typename Ops::V;
    constexpr int A = M + 2;
    V t[A][A];
    for (int j = 0; j < A; ++j) {
        V column[A], out[A];
        for (int i = 0; i < A; ++i) column[i] = Ops::template load<Full>(d[i * A + j] + c, mask);
        input_1d<Ops, M>(column, out);
        for (int i = 0; i < A; ++i) t[i][j] = out[i];
    }
    for (int i = 0; i < A; ++i) {
        V out[A];
        input_1d<Ops, M>(t[i], out);
        for (int j = 0; j < A; ++j) Ops::template store<Full>(v + (i * A + j) * v_stride, out[j], mask);
    }
}

// Whether Ops has transpose_tiles(src, tiles, mr, dst) -> bool: a register transpose of one
// position's staged block (see input_packed_step) for the cases it handles (false: it did not).
template <class Ops, class = void>
struct HasTransposeTiles : std::false_type {};
template <class Ops>
struct HasTransposeTiles<Ops, std::void_t<decltype(&Ops::transpose_tiles)>> : std::true_type {};

// One vector of channels of up to kMaxGemmRows (winograd.hpp) tiles: each tile transformed,
// vectorised over channels, into `staged` ([xi][tile][lane], L1-resident), then written in the
// GEMM's packed-A order
// v[xi * v_stride + c * mr + tile], tiles past `tiles` zero. The transposition is the generic
// element loop unless Ops transposes whole vectors of lanes in registers (transpose_tiles).
template <class Ops, int M, bool Full>
inline void input_packed_step(const typename Ops::T* const* d, int64_t tiles, int mr, int64_t c, int64_t lanes,
                              typename Ops::T* v, int64_t v_stride) {
    using T = typename Ops::T;
    constexpr int A = M + 2;
    constexpr int64_t L = Ops::kLanes;
    alignas(64) T staged[A * A * kMaxGemmRows * L];
    const auto mask = Ops::mask(lanes);
    for (int64_t i = 0; i < tiles; ++i)
        input_step<Ops, M, Full>(d + i * A * A, c, mask, staged + i * L, mr * L);
    for (int xi = 0; xi < A * A; ++xi) {
        T* dst = v + xi * v_stride + c * mr;
        const T* src = staged + xi * mr * L;
        if constexpr (HasTransposeTiles<Ops>::value && Full) {
            if (Ops::transpose_tiles(src, tiles, mr, dst)) continue;
        }
        for (int64_t l = 0; l < lanes; ++l) {
            for (int64_t i = 0; i < tiles; ++i) dst[l * mr + i] = src[i * L + l];
            for (int64_t i = tiles; i < mr; ++i) dst[l * mr + i] = T(0);
        }
    }
}

template <class Ops, int M>
void input_packed(int64_t channels, int64_t tiles, int mr, const typename Ops::T* const* d, typename Ops::T* v,
                  int64_t v_stride) {
    int64_t c = 0;
    for (; c + Ops::kLanes <= channels; c += Ops::kLanes)
        input_packed_step<Ops, M, true>(d, tiles, mr, c, Ops::kLanes, v, v_stride);
    if (c < channels) input_packed_step<Ops, M, false>(d, tiles, mr, c, channels - c, v, v_stride);
}

// One vector of channels of one tile: A^T M by columns, then (.) A by rows, plus bias. Whole: the
// tile lies inside the output, so the row and column loops have constant bounds and unroll.
template <class Ops, int M, bool Full, bool Whole>
inline void output_step(const typename Ops::T* m, int64_t m_stride, const typename Ops::T* bias,
                        typename Ops::T* y, int64_t y_row_stride, int64_t y_pixel_stride, int64_t rows,
                        int64_t cols, int64_t c, typename Ops::Mask mask) {
    using V = typename Ops::V;
    constexpr int A = M + 2;
    V u[M][A];
    for (int j = 0; j < A; ++j) {
        V column[A], out[M];
        for (int i = 0; i < A; ++i) column[i] = Ops::template load<Full>(m + (i * A + j) * m_stride + c, mask);
        output_1d<Ops, M>(column, out);
        for (int i = 0; i < M; ++i) u[i][j] = out[i];
    }
    const V b = bias ? Ops::template load<Full>(bias + c, mask) : Ops::zero();
    for (int i = 0; i < M; ++i) {
        if (!Whole && i >= rows) break;
        V out[M];
        output_1d<Ops, M>(u[i], out);
        for (int j = 0; j < M; ++j) {
            if (!Whole && j >= cols) break;
            Ops::template store<Full>(y + i * y_row_stride + j * y_pixel_stride + c, Ops::add(out[j], b), mask);
        }
    }
}

template <class Ops, int M, bool Whole>
inline void output_channels(int64_t channels, const typename Ops::T* m, int64_t m_stride, const typename Ops::T* bias,
                            typename Ops::T* y, int64_t y_row_stride, int64_t y_pixel_stride, int64_t rows,
                            int64_t cols) {
    int64_t c = 0;
    for (; c + Ops::kLanes <= channels; c += Ops::kLanes)
        output_step<Ops, M, true, Whole>(m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols, c,
                                         Ops::mask(Ops::kLanes));
    if (c < channels)
        output_step<Ops, M, false, Whole>(m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols, c,
                                          Ops::mask(channels - c));
}

template <class Ops, int M>
void output_tile(int64_t channels, const typename Ops::T* m, int64_t m_stride, const typename Ops::T* bias,
                 typename Ops::T* y, int64_t y_row_stride, int64_t y_pixel_stride, int64_t rows, int64_t cols) {
    if (rows >= M && cols >= M)
        output_channels<Ops, M, true>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, M, M);
    else
        output_channels<Ops, M, false>(channels, m, m_stride, bias, y, y_row_stride, y_pixel_stride, rows, cols);
}

}  // namespace
}  // namespace fastconv::winograd
