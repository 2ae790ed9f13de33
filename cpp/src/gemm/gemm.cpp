// The portable part of the packed GEMM (see gemm.hpp): BLIS's loop nest around an MR x NR
// microkernel, the packing of strided operands into microkernel order, and the dispatch list.
//
// Loop nest, outermost first: NC columns of B (jc), KC of depth (pc; packs the KC x NC panel of B),
// MC rows of A (ic; packs the MC x KC block of A), NR-wide slivers of B (jr), MR-tall slivers of A
// (ir), and the microkernel's k loop. Every element of C gets its K terms in the same order (KC
// blocks in turn, each summed by one FMA or multiply-add chain), and a tile at the edge of C runs the
// same kernel on the same values as an interior one, so an element's bits depend only on its row of
// A, its column of B, K and the microkernel: never on M, N, the blocking or where a caller cut C.
#include "gemm/gemm.hpp"

#include <algorithm>
#include <cstring>

#include "kernels/gemm_ukernels.hpp"
#include "layout.hpp"
#include "runtime/prefetch.hpp"
#include "runtime/workspace.hpp"

namespace fastconv::gemm {
namespace {

// Column-major A (a transposed view, e.g. a weight read as W^T): each k step is a contiguous
// column, read whole across all slivers, as pack_b reads rows. Sliver by sliver would read a few
// floats per k step at a stride of col_stride, often a power of two that maps every line onto the
// same L1 set (dcgan_up_4x4: 16 KB), and reload each line once per sliver. MR is the microkernel's
// tile height when it is one of the compiled ones (0: read mr at run time), so a sliver's column
// is a few inlined moves: a memcpy of a run-time 24 bytes was a libc call per sliver and k step,
// 40% of dcgan_up_4x4's functional call. The columns lie col_stride apart, each a run of at most
// MC floats, too short a run per page for the hardware prefetchers to ramp up before the next
// column jumps pages: the column kColumnsAhead steps ahead is prefetched line by line, which took
// the packing of dcgan_up_4x4's 8 MB of weights from ~4 to ~8 GB/s (functional call 2.9 -> 2.25
// ms). copy_a_columns reads its columns the same way.
constexpr int64_t kColumnsAhead = 8;

template <int MR, typename T>
void pack_a_columns(ConstMatrix<T> a, int64_t rows, int64_t depth, int mr, T* packed) {
    const int m = MR > 0 ? MR : mr;
    const int64_t full_slivers = rows / m, tail = rows - full_slivers * m;
    for (int64_t p = 0; p < depth; ++p) {
        const T* column = a.data + p * a.col_stride;
        if (p + kColumnsAhead < depth) prefetch_lines(column + kColumnsAhead * a.col_stride, rows);
        T* dst = packed + p * m;
        for (int64_t s = 0; s < full_slivers; ++s, column += m, dst += m * depth)
            for (int i = 0; i < m; ++i) dst[i] = column[i];
        if (tail > 0) {
            std::copy_n(column, tail, dst);
            std::fill(dst + tail, dst + m, T(0));
        }
    }
}

// A block of column-major A that feeds a single sliver of B (dcgan_up_4x4's transposed weights:
// 4096 x 512 against 16 columns) is read once per element, so packing it into slivers costs more
// than the product: each k step's column scatters into every sliver, MR-float pieces a sliver apart
// (Zen 3: packing the 8 MB took ~1.5x the microkernels' time). Copied column by column instead
// (one contiguous run each, columns `ld` apart, rows past `rows` zero) it goes at memcpy speed, and
// the microkernel reads its rows from the copy with lda = ld (dcgan_up_4x4's functional call on
// Zen 3, 1 thread, minima of alternated processes: 1.81 -> 1.32 ms). Copying the next block between
// the tiles of this one, to overlap the two, measured slower.
template <typename T>
void copy_a_columns(ConstMatrix<T> a, int64_t rows, int64_t depth, int64_t ld, T* copy) {
    for (int64_t p = 0; p < depth; ++p) {
        const T* column = a.data + p * a.col_stride;
        if (p + kColumnsAhead < depth) prefetch_lines(column + kColumnsAhead * a.col_stride, rows);
        std::copy_n(column, rows, copy + p * ld);
        std::fill(copy + p * ld + rows, copy + (p + 1) * ld, T(0));
    }
}

// Packs rows [0, rows) x depth [0, depth) of A (already offset to the block's corner) into MR-tall
// slivers, sliver s at packed + s * MR * depth with element (i, p) at p * MR + i. Rows past `rows`
// in the last sliver are zero, so the microkernel runs on a full tile.
template <typename T>
void pack_a(ConstMatrix<T> a, int64_t rows, int64_t depth, int mr, T* packed) {
    if (a.row_stride == 1) {
        static_assert(kF64ScalarMr == kF32ScalarMr && kF64Avx2Mr == kF32Avx2Mr && kF64Avx512Mr == kF32Avx512Mr &&
                          kF64NeonMr == kF32NeonMr,
                      "one tile height per ISA for both dtypes, or list the float64 ones here too");
        switch (mr) {
            case kF32ScalarMr: return pack_a_columns<kF32ScalarMr>(a, rows, depth, mr, packed);
            case kF32Avx2Mr: return pack_a_columns<kF32Avx2Mr>(a, rows, depth, mr, packed);
            case kF32Avx512Mr: return pack_a_columns<kF32Avx512Mr>(a, rows, depth, mr, packed);
            case kF32NeonMr: return pack_a_columns<kF32NeonMr>(a, rows, depth, mr, packed);
            default: return pack_a_columns<0>(a, rows, depth, mr, packed);
        }
    }
    const int64_t slivers = (rows + mr - 1) / mr;
    for (int64_t s = 0; s < slivers; ++s, packed += mr * depth) {
        const int64_t valid = std::min<int64_t>(mr, rows - s * mr);
        const T* src = a.data + s * mr * a.row_stride;
        if (a.col_stride == 1) {
            // Row-major A (weights as they lie): a panel transpose writes whole runs of each
            // k step's column instead of one strided store per element.
            transpose_panel(src, a.row_stride, packed, mr, valid, depth);
            if (valid < mr)
                for (int64_t p = 0; p < depth; ++p) std::fill(packed + p * mr + valid, packed + (p + 1) * mr, T(0));
            continue;
        }
        for (int64_t i = 0; i < valid; ++i) {
            const T* row = src + i * a.row_stride;
            for (int64_t p = 0; p < depth; ++p) packed[p * mr + i] = row[p * a.col_stride];
        }
        for (int64_t i = valid; i < mr; ++i)
            for (int64_t p = 0; p < depth; ++p) packed[p * mr + i] = T(0);
    }
}

// Packs depth [0, depth) x columns [0, cols) of B (already offset to the panel's corner) into
// NR-wide slivers, sliver s at packed + s * NR * depth with element (p, j) at p * NR + j, columns
// past `cols` zero. Row-major B is read row by row across all slivers: one sequential stream the
// hardware prefetcher follows, where a sliver at a time would touch a new page every NR elements.
template <typename T>
void pack_b(ConstMatrix<T> b, int64_t depth, int64_t cols, int nr, T* packed) {
    const int64_t full_slivers = cols / nr, tail = cols - full_slivers * nr;
    const int64_t sliver_size = nr * depth;
    if (b.col_stride == 1) {
        for (int64_t p = 0; p < depth; ++p) {
            const T* row = b.data + p * b.row_stride;
            T* dst = packed + p * nr;
            for (int64_t s = 0; s < full_slivers; ++s, row += nr, dst += sliver_size)
                for (int j = 0; j < nr; j += kNrGranule) std::memcpy(dst + j, row + j, kNrGranule * sizeof(T));
            if (tail > 0) {
                for (int64_t j = 0; j < tail; ++j) dst[j] = row[j];
                for (int64_t j = tail; j < nr; ++j) dst[j] = T(0);
            }
        }
        return;
    }
    // Strided columns (a transposed view): a sliver at a time, so the nr columns' cache lines stay
    // in L1 while consecutive k steps consume them.
    for (int64_t j0 = 0; j0 < cols; j0 += nr, packed += sliver_size) {
        const int64_t valid = std::min<int64_t>(nr, cols - j0);
        const T* src = b.data + j0 * b.col_stride;
        for (int64_t p = 0; p < depth; ++p) {
            const T* row = src + p * b.row_stride;
            T* dst = packed + p * nr;
            for (int64_t j = 0; j < valid; ++j) dst[j] = row[j * b.col_stride];
            for (int64_t j = valid; j < nr; ++j) dst[j] = T(0);
        }
    }
}

// A partial tile of C (rows x cols valid) goes through a local full-size tile so the microkernel
// never writes outside C; the valid part of C is copied in first when accumulating, so the kernel
// does exactly the arithmetic it would do in place. Out of line: its frame (the local tile)
// cost every full tile a prologue while it shared run_tile's body, 4% of resnet_1x1_56's call.
template <typename T>
[[gnu::noinline]] void run_partial_tile(const Ukernel<T>& ukernel, int64_t kc, const T* a_sliver, int64_t lda,
                                        const T* b_sliver, T* c, int64_t ldc, int64_t rows, int64_t cols,
                                        bool accumulate) {
    alignas(64) T tile[kMaxTileElements];
    const int nr = ukernel.nr;
    if (accumulate) {
        // Zero the unused part too: stale bits there could be denormals that slow the FMAs down.
        std::fill_n(tile, ukernel.mr * nr, T(0));
        for (int64_t i = 0; i < rows; ++i) std::copy_n(c + i * ldc, cols, tile + i * nr);
    }
    ukernel.fn(kc, a_sliver, lda, b_sliver, tile, nr, accumulate);
    for (int64_t i = 0; i < rows; ++i) std::copy_n(tile + i * nr, cols, c + i * ldc);
}

// One MR x NR tile of C whose valid part is rows x cols.
template <typename T>
inline void run_tile(const Ukernel<T>& ukernel, int64_t kc, const T* a_sliver, int64_t lda, const T* b_sliver, T* c,
                     int64_t ldc, int64_t rows, int64_t cols, bool accumulate) {
    if (rows == ukernel.mr && cols == ukernel.nr) ukernel.fn(kc, a_sliver, lda, b_sliver, c, ldc, accumulate);
    else run_partial_tile(ukernel, kc, a_sliver, lda, b_sliver, c, ldc, rows, cols, accumulate);
}

template <typename T>
std::vector<Ukernel<T>> make_ukernel_list();

template <>
std::vector<Ukernel<float>> make_ukernel_list<float>() {
    return {
#if defined(FASTCONV_X86_KERNELS)
        {"f32_gemm_ukernel_14x32__avx512f", Isa::avx512, kF32Avx512Mr, kF32Avx512Nr,
         f32_gemm_ukernel_14x32__avx512f},
        {"f32_gemm_ukernel_28x16__avx512f", Isa::avx512, kF32Avx512NarrowMr, kF32Avx512NarrowNr,
         f32_gemm_ukernel_28x16__avx512f},
        {"f32_gemm_ukernel_6x16__avx2_fma", Isa::avx2, kF32Avx2Mr, kF32Avx2Nr, f32_gemm_ukernel_6x16__avx2_fma},
        {"f32_gemm_ukernel_12x8__avx2_fma", Isa::avx2, kF32Avx2NarrowMr, kF32Avx2NarrowNr,
         f32_gemm_ukernel_12x8__avx2_fma},
#endif
#if defined(FASTCONV_NEON_KERNELS)
        {"f32_gemm_ukernel_8x8__neon", Isa::neon, kF32NeonMr, kF32NeonNr, f32_gemm_ukernel_8x8__neon},
#endif
        {"f32_gemm_ukernel_4x8__scalar", Isa::scalar, kF32ScalarMr, kF32ScalarNr, f32_gemm_ukernel_4x8__scalar},
    };
}

template <>
std::vector<Ukernel<double>> make_ukernel_list<double>() {
    return {
#if defined(FASTCONV_X86_KERNELS)
        {"f64_gemm_ukernel_14x16__avx512f", Isa::avx512, kF64Avx512Mr, kF64Avx512Nr,
         f64_gemm_ukernel_14x16__avx512f},
        {"f64_gemm_ukernel_28x8__avx512f", Isa::avx512, kF64Avx512NarrowMr, kF64Avx512NarrowNr,
         f64_gemm_ukernel_28x8__avx512f},
        {"f64_gemm_ukernel_6x8__avx2_fma", Isa::avx2, kF64Avx2Mr, kF64Avx2Nr, f64_gemm_ukernel_6x8__avx2_fma},
        {"f64_gemm_ukernel_12x4__avx2_fma", Isa::avx2, kF64Avx2NarrowMr, kF64Avx2NarrowNr,
         f64_gemm_ukernel_12x4__avx2_fma},
#endif
#if defined(FASTCONV_NEON_KERNELS)
        {"f64_gemm_ukernel_8x4__neon", Isa::neon, kF64NeonMr, kF64NeonNr, f64_gemm_ukernel_8x4__neon},
#endif
        {"f64_gemm_ukernel_4x4__scalar", Isa::scalar, kF64ScalarMr, kF64ScalarNr, f64_gemm_ukernel_4x4__scalar},
    };
}

}  // namespace

template <typename T>
const std::vector<Ukernel<T>>& ukernels() {
    static const std::vector<Ukernel<T>> list = make_ukernel_list<T>();
    return list;
}

template <typename T>
const Ukernel<T>& active_ukernel() {
    static const Ukernel<T>& chosen = []() -> const Ukernel<T>& {
        const std::vector<Ukernel<T>>& list = ukernels<T>();
        const Isa limit = active_isa();
        // Found at the latest at the end of the list: the scalar kernel runs under any limit.
        return *std::find_if(list.begin(), list.end(),
                             [limit](const Ukernel<T>& ukernel) { return ukernel.isa <= limit; });
    }();
    return chosen;
}

template <typename T>
const Ukernel<T>* active_narrow_ukernel() {
    static const Ukernel<T>* chosen = []() -> const Ukernel<T>* {
        const Ukernel<T>& main = active_ukernel<T>();
        for (const Ukernel<T>& ukernel : ukernels<T>())
            if (ukernel.isa == main.isa && ukernel.nr < main.nr) return &ukernel;
        return nullptr;
    }();
    return chosen;
}

namespace {

template <typename T>
const Ukernel<T>& ukernel_for_columns(int64_t N) {
    const Ukernel<T>* narrow = active_narrow_ukernel<T>();
    return narrow && N <= narrow->nr ? *narrow : active_ukernel<T>();
}

}  // namespace

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, ConstMatrix<T> A, ConstMatrix<T> B, T* C, int64_t ldc,
          bool accumulate) {
    gemm_with(ukernel_for_columns<T>(N), M, N, K, A, B, C, ldc, accumulate);
}

// Reductions this short (a 1x1 layer's 64 input channels) give each tile few FMAs per store of C,
// so the tiles are visited along C's rows: each row of tiles is written as MR sequential streams,
// which the prefetchers and write combining handle, while the B panel (at most 64 x NC values:
// 256 KB of float32) is swept again from L2 for each row of tiles. Column by column, each tile's
// stores would land on MR rows far apart (resnet_1x1_56 on channels-first memory, 1 thread,
// minima of alternated processes: 0.80 -> 0.72 ms on the AVX-512 Xeon, 1.24 -> 1.21 on Zen 3).
constexpr int64_t kShortReduction = 64;

template <typename T>
void gemm_with(const Ukernel<T>& ukernel, int64_t M, int64_t N, int64_t K, ConstMatrix<T> A,
               ConstMatrix<T> B, T* C, int64_t ldc, bool accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate)
            for (int64_t i = 0; i < M; ++i) std::fill_n(C + i * ldc, N, T(0));
        return;
    }
    const int mr = ukernel.mr, nr = ukernel.nr;
    const Blocking blocking = blocking_for(mr, nr, sizeof(T));
    const int64_t kc_max = std::min(K, blocking.kc);
    // Round the buffers up to whole slivers: the last sliver of each is zero-padded.
    const int64_t mc_max = (std::min(M, blocking.mc) + mr - 1) / mr * mr;
    const int64_t nc_max = (std::min(N, blocking.nc) + nr - 1) / nr * nr;
    const bool copies_a = A.row_stride == 1 && N <= nr;  // see copy_a_columns
    T* packed_a = scratch<T>(ScratchSlot::gemm_a, mc_max * kc_max);
    T* packed_b = scratch<T>(ScratchSlot::gemm_b, kc_max * nc_max);

    for (int64_t jc = 0; jc < N; jc += blocking.nc) {
        const int64_t nc = std::min(blocking.nc, N - jc);
        for (int64_t pc = 0; pc < K; pc += blocking.kc) {
            const int64_t kc = std::min(blocking.kc, K - pc);
            const bool accumulate_block = pc > 0 || accumulate;
            pack_b(ConstMatrix<T>{B.data + pc * B.row_stride + jc * B.col_stride, B.row_stride, B.col_stride},
                   kc, nc, nr, packed_b);
            for (int64_t ic = 0; ic < M; ic += blocking.mc) {
                const int64_t mc = std::min(blocking.mc, M - ic);
                const ConstMatrix<T> a_block{A.data + ic * A.row_stride + pc * A.col_stride, A.row_stride,
                                             A.col_stride};
                const int64_t lda = copies_a ? (mc + mr - 1) / mr * mr : mr;
                if (copies_a) copy_a_columns(a_block, mc, kc, lda, packed_a);
                else pack_a(a_block, mc, kc, mr, packed_a);
                // The block's tile at (ir, jr): C's rows from ic + ir, columns from jc + jr.
                const auto tile = [&](int64_t ir, int64_t jr) {
                    run_tile(ukernel, kc, packed_a + (copies_a ? ir : ir * kc), lda, packed_b + jr * kc,
                             C + (ic + ir) * ldc + jc + jr, ldc, std::min<int64_t>(mr, mc - ir),
                             std::min<int64_t>(nr, nc - jr), accumulate_block);
                };
                if (kc <= kShortReduction) {
                    for (int64_t ir = 0; ir < mc; ir += mr)
                        for (int64_t jr = 0; jr < nc; jr += nr) tile(ir, jr);
                    continue;
                }
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    const int64_t cols = std::min<int64_t>(nr, nc - jr);
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        // The next tile's lines of C are fetched while this one computes: C is
                        // often a fresh output that no cache holds (resnet_1x1_56 on channels-first
                        // memory: 7% faster, median of interleaved runs on Zen 3).
                        T* c_tile = C + (ic + ir) * ldc + jc + jr;
                        for (int64_t i = mr; i < 2 * mr && ir + i < mc; ++i)
                            prefetch_lines_for_write(c_tile + i * ldc, cols);
                        tile(ir, jr);
                    }
                }
            }
        }
    }
}

template const std::vector<Ukernel<float>>& ukernels<float>();
template const std::vector<Ukernel<double>>& ukernels<double>();
template const Ukernel<float>& active_ukernel<float>();
template const Ukernel<double>& active_ukernel<double>();
template const Ukernel<float>* active_narrow_ukernel<float>();
template const Ukernel<double>* active_narrow_ukernel<double>();
template void gemm<float>(int64_t, int64_t, int64_t, ConstMatrix<float>, ConstMatrix<float>, float*, int64_t,
                          bool);
template void gemm<double>(int64_t, int64_t, int64_t, ConstMatrix<double>, ConstMatrix<double>, double*,
                           int64_t, bool);
template void gemm_with<float>(const Ukernel<float>&, int64_t, int64_t, int64_t, ConstMatrix<float>,
                               ConstMatrix<float>, float*, int64_t, bool);
template void gemm_with<double>(const Ukernel<double>&, int64_t, int64_t, int64_t, ConstMatrix<double>,
                                ConstMatrix<double>, double*, int64_t, bool);

}  // namespace fastconv::gemm
