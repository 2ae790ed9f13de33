// The channels-first depthwise row kernel (RowUkernelFn, contract in dwconv/dwconv.hpp) written
// once for every SIMD ISA: each ISA file (dwconv_<isa>.cpp, compiled with its own flags) supplies
// a vector traits type V (Vec, lanes, load, set1, fma, store: vec_<isa>.hpp's, plus store_first
// for a vector's first `count` lanes and load_kept, a load the compiler must keep in a register)
// in its own anonymous namespace, so every instantiation is local to that file and carries its
// instruction set.
#pragma once

#include <cstdint>

namespace fastconv::dwconv {

// Outputs [ow, min(width, ow + lanes NV)) of one row. Only the last vector's store is masked, where
// the row ends inside it, since a masked store costs Zen 3 about a dozen cycles (four of them per
// 56-wide row cost depthwise_3x3 a fifth of its time).
template <class V, int NV>
inline void store_chw_row(int64_t ow, int64_t width, const typename V::Vec* acc, float* y) {
#pragma GCC unroll 4
    for (int v = 0; v + 1 < NV; ++v) V::store(y + ow + V::lanes * v, acc[v]);
    float* last = y + ow + V::lanes * (NV - 1);
    const int64_t left = width - ow - V::lanes * (NV - 1);
    if (left >= V::lanes) V::store(last, acc[NV - 1]);
    else V::store_first(last, acc[NV - 1], left);
}

// NV vectors of outputs at once, each its own FMA chain over the kh x kw taps: one chain per row
// would wait out the FMA latency on every tap (9 dependent FMAs per 8 outputs ran at 9% of peak
// on resnet-sized rows). kPair: the next output row too, from the same loads (input row r serves
// kernel row r of the first output row and r - 1 of the second); load_kept holds each input
// vector for both rows' FMAs, where GCC would fold it into each of them as a second load. Loads
// are never masked: the caller's rows are padded past the row's end. KH, KW: the kernel's size
// when fixed at compile time (3 x 3, fully unrolled: together with the held loads 1.5x faster on
// resnet-sized rows, Zen 3), 0 for the run-time kh, kw. Always inlined: called out of line, with
// its vector argument and eight accumulators, GCC's AVX2 copy ran 2.5x slower than the whole
// layer had before (Zen 3).
template <class V, int NV, bool kPair, int KH, int KW>
[[gnu::always_inline]] inline void chw_row_block(int64_t ow, int64_t width, int64_t run_kh, int64_t run_kw,
                                                 int64_t dw, const float* const* rows, const float* w,
                                                 typename V::Vec b, float* y, float* y_next) {
    const int64_t kh = KH ? KH : run_kh, kw = KW ? KW : run_kw;
    typename V::Vec acc[NV], next[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[v] = next[v] = b;
#pragma GCC unroll 8
    for (int64_t r = 0; r < kh + kPair; ++r)
#pragma GCC unroll 8
        for (int64_t s = 0; s < kw; ++s) {
            const float* x = rows[r] + ow + s * dw;
            typename V::Vec xv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) xv[v] = V::load_kept(x + V::lanes * v);
            if (r < kh) {
                const typename V::Vec weight = V::set1(w[r * kw + s]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) acc[v] = V::fma(xv[v], weight, acc[v]);
            }
            if (kPair && r > 0) {
                const typename V::Vec weight = V::set1(w[(r - 1) * kw + s]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) next[v] = V::fma(xv[v], weight, next[v]);
            }
        }
    store_chw_row<V, NV>(ow, width, acc, y);
    if (kPair) store_chw_row<V, NV>(ow, width, next, y_next);
}

// Four vectors per step; the last up-to-(4 lanes - 1) outputs in one step of as many vectors as
// they need (AVX2: 56 = 32 + 24 needs no mask at all).
template <class V, bool kPair, int KH, int KW>
void chw_row_pass(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows, const float* w,
                  float bias, float* y, float* y_next) {
    const typename V::Vec b = V::set1(bias);
    int64_t ow = 0;
    for (; ow + 4 * V::lanes <= width; ow += 4 * V::lanes)
        chw_row_block<V, 4, kPair, KH, KW>(ow, width, kh, kw, dw, rows, w, b, y, y_next);
    switch ((width - ow + V::lanes - 1) / V::lanes) {
        case 4: chw_row_block<V, 4, kPair, KH, KW>(ow, width, kh, kw, dw, rows, w, b, y, y_next); break;
        case 3: chw_row_block<V, 3, kPair, KH, KW>(ow, width, kh, kw, dw, rows, w, b, y, y_next); break;
        case 2: chw_row_block<V, 2, kPair, KH, KW>(ow, width, kh, kw, dw, rows, w, b, y, y_next); break;
        case 1: chw_row_block<V, 1, kPair, KH, KW>(ow, width, kh, kw, dw, rows, w, b, y, y_next); break;
        default: break;
    }
}

template <class V, int KH, int KW>
inline void chw_row_sized(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows, const float* w,
                          float bias, float* y, float* y_next) {
    if (y_next) chw_row_pass<V, true, KH, KW>(width, kh, kw, dw, rows, w, bias, y, y_next);
    else chw_row_pass<V, false, KH, KW>(width, kh, kw, dw, rows, w, bias, y, nullptr);
}

template <class V>
inline void chw_row(int64_t width, int64_t kh, int64_t kw, int64_t dw, const float* const* rows, const float* w,
                    float bias, float* y, float* y_next) {
    if (kh == 3 && kw == 3) chw_row_sized<V, 3, 3>(width, kh, kw, dw, rows, w, bias, y, y_next);
    else chw_row_sized<V, 0, 0>(width, kh, kw, dw, rows, w, bias, y, y_next);
}

}  // namespace fastconv::dwconv
