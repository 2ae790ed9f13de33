// Conversions between channels-first (N, C, spatial...) and channels-last (N, spatial..., C) memory,
// for implementations that compute in one layout and are handed the other.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "runtime/thread_pool.hpp"
#include "runtime/workspace.hpp"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace fastconv {

#if defined(__SSE2__)
// The 8 x 4 block at s transposed into the 4 x 8 block at d, as two 4 x 4 transposes in SSE
// registers. kStream: non-temporal stores (d must then be 16-byte aligned).
template <bool kStream>
inline void transpose_8x4(const float* s, int64_t s_stride, float* d, int64_t d_stride) {
    __m128 a0 = _mm_loadu_ps(s), a1 = _mm_loadu_ps(s + s_stride), a2 = _mm_loadu_ps(s + 2 * s_stride),
           a3 = _mm_loadu_ps(s + 3 * s_stride);
    __m128 b0 = _mm_loadu_ps(s + 4 * s_stride), b1 = _mm_loadu_ps(s + 5 * s_stride), b2 = _mm_loadu_ps(s + 6 * s_stride),
           b3 = _mm_loadu_ps(s + 7 * s_stride);
    _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
    _MM_TRANSPOSE4_PS(b0, b1, b2, b3);
    const auto store = [](float* to, __m128 v) {
        if constexpr (kStream) _mm_stream_ps(to, v);
        else _mm_storeu_ps(to, v);
    };
    store(d, a0), store(d + 4, b0);
    store(d + d_stride, a1), store(d + d_stride + 4, b1);
    store(d + 2 * d_stride, a2), store(d + 2 * d_stride + 4, b2);
    store(d + 3 * d_stride, a3), store(d + 3 * d_stride + 4, b3);
}

// The 4 x 4 block at s transposed into d.
inline void transpose_4x4(const float* s, int64_t s_stride, float* d, int64_t d_stride) {
    __m128 a0 = _mm_loadu_ps(s), a1 = _mm_loadu_ps(s + s_stride), a2 = _mm_loadu_ps(s + 2 * s_stride),
           a3 = _mm_loadu_ps(s + 3 * s_stride);
    _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
    _mm_storeu_ps(d, a0), _mm_storeu_ps(d + d_stride, a1), _mm_storeu_ps(d + 2 * d_stride, a2),
        _mm_storeu_ps(d + 3 * d_stride, a3);
}

// The 2 x 4 block at s transposed into the 4 x 2 block at d: pairs of 8 bytes.
inline void transpose_2x4(const float* s, int64_t s_stride, float* d, int64_t d_stride) {
    const __m128 a = _mm_loadu_ps(s), b = _mm_loadu_ps(s + s_stride);
    const __m128 low = _mm_unpacklo_ps(a, b), high = _mm_unpackhi_ps(a, b);
    _mm_storel_pi(reinterpret_cast<__m64*>(d), low), _mm_storeh_pi(reinterpret_cast<__m64*>(d + d_stride), low);
    _mm_storel_pi(reinterpret_cast<__m64*>(d + 2 * d_stride), high);
    _mm_storeh_pi(reinterpret_cast<__m64*>(d + 3 * d_stride), high);
}
#endif

// d[c * d_stride + r] = s[r * s_stride + c] for r < rows, c < cols, on this thread. 8-row strips
// are read together so each destination line gets 8 contiguous values per visit, instead of one
// store per line. float goes through SSE registers (x86-64's baseline, so no ISA file), 8 x 4
// tiles as two 4 x 4 transposes: the compiler turns the portable strip into one scalar load per
// element, and the RGB stem's 3.2 MB output took a quarter of the layer's time to transpose. The
// last rows go in strips of 4 and 2 the same way: the GEMM packs weights into 6- and 14-row
// slivers, where one scalar store per element took 80% of its packing time.
template <typename T>
void transpose_panel(const T* s, int64_t s_stride, T* d, int64_t d_stride, int64_t rows, int64_t cols) {
    int64_t r = 0;
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float>) {
        const int64_t quads = cols / 4 * 4;
        const auto strips = [&](int64_t height, auto transpose_block) {
            for (; r + height <= rows; r += height) {
                for (int64_t c = 0; c < quads; c += 4) transpose_block(s + r * s_stride + c, s_stride, d + c * d_stride + r, d_stride);
                for (int64_t c = quads; c < cols; ++c)
                    for (int64_t i = 0; i < height; ++i) d[c * d_stride + r + i] = s[(r + i) * s_stride + c];
            }
        };
        strips(8, transpose_8x4<false>);
        strips(4, transpose_4x4);
        strips(2, transpose_2x4);
    }
#endif
    for (; r + 8 <= rows; r += 8)
        for (int64_t c = 0; c < cols; ++c)
            for (int64_t i = 0; i < 8; ++i) d[c * d_stride + r + i] = s[(r + i) * s_stride + c];
    for (; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) d[c * d_stride + r] = s[r * s_stride + c];
}

// transpose_panel for a destination that no cache holds (a fresh output array megabytes large),
// with non-temporal stores: they need no read for ownership. Transposing into the RGB stem's 3.2 MB
// output once it had left the caches took 0.65 ms with cached stores and 0.25 ms streamed (Zen 3).
// Column groups outermost, so the stores to each destination line follow each other and merge into
// whole lines; tall panels, so a line gets a long run (32 x 32 blocks streamed made the stem 9%
// slower than one panel per 192-pixel chunk). Measured, not understood: destination lines 64 KB or
// more apart (conv3d_video's planes: 196 KB) streamed 1.5-2.5x slower than with cached stores,
// where lines 3-75 KB apart streamed 2-3x faster; such strides, and lines that are not 16-byte
// aligned, take transpose_panel (can_stream says which). The caller calls fence_streaming_stores
// once it is done.
inline bool can_stream([[maybe_unused]] const float* d, [[maybe_unused]] int64_t d_stride) {
#if defined(__SSE2__)
    constexpr int64_t kMaxStreamedStride = (64 << 10) / sizeof(float);
    return reinterpret_cast<uintptr_t>(d) % 16 == 0 && d_stride % 4 == 0 && d_stride < kMaxStreamedStride;
#else
    return false;
#endif
}

inline void stream_transpose_panel(const float* s, int64_t s_stride, float* d, int64_t d_stride, int64_t rows,
                                   int64_t cols) {
#if defined(__SSE2__)
    if (can_stream(d, d_stride) && rows >= 8) {
        const int64_t strips = rows / 8 * 8, quads = cols / 4 * 4;
        for (int64_t c = 0; c < quads; c += 4)
            for (int64_t r = 0; r < strips; r += 8)
                transpose_8x4<true>(s + r * s_stride + c, s_stride, d + c * d_stride + r, d_stride);
        transpose_panel(s + quads, s_stride, d + quads * d_stride, d_stride, strips, cols - quads);
        transpose_panel(s + strips * s_stride, s_stride, d + strips, d_stride, rows - strips, cols);
        return;
    }
#endif
    transpose_panel(s, s_stride, d, d_stride, rows, cols);
}

// Orders this thread's non-temporal stores before whatever it does next.
inline void fence_streaming_stores() {
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

// Whether an output this large is better written around the caches (stream_transpose_panel): a
// fresh output array larger than a core's L2 is in no cache when the call starts, and the stores
// of a cached transpose would first read all of it from memory.
inline bool writes_to_memory(int64_t bytes) { return bytes >= (int64_t{1} << 20); }

// dst[j] = src[2 j], j < count: rows read at stride 2 (im2col, the polyphase copy). Element by element
// the loop waited on a load and a store per value (a strided 1x1 layer's im2col was a sixth of its
// time); float takes
// two SSE loads and one shuffle per four values (x86-64's baseline, so no ISA file).
template <typename T>
void copy_even(const T* src, int64_t count, T* dst) {
    int64_t j = 0;
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float>)
        // j + 4 < count, not <=: the second load reads up to src[2 j + 7], which must not pass the
        // last value read, src[2 (count - 1)].
        for (; j + 4 < count; j += 4)
            _mm_storeu_ps(dst + j, _mm_shuffle_ps(_mm_loadu_ps(src + 2 * j), _mm_loadu_ps(src + 2 * j + 4),
                                                  _MM_SHUFFLE(2, 0, 2, 0)));
#endif
    for (; j < count; ++j) dst[j] = src[2 * j];
}

// dst[j] = src[j * stride], j < count (stride >= 1): a contiguous copy, copy_even's shuffles at
// stride 2, element by element otherwise.
template <typename T>
void copy_strided(const T* src, int64_t stride, int64_t count, T* dst) {
    if (stride == 1) {
        std::copy_n(src, count, dst);
    } else if (stride == 2) {
        copy_even(src, count, dst);
    } else {
        for (int64_t j = 0; j < count; ++j) dst[j] = src[j * stride];
    }
}


// to[j] = from[j] + add, j < count, non-temporal where `stream` and the SSE baseline allow it:
// the rows of a fresh output megabytes large, which no cache holds (see writes_to_memory). The
// caller calls fence_streaming_stores once it is done.
inline void add_row(const float* from, float add, float* to, int64_t count, bool stream) {
    int64_t j = 0;
#if defined(__SSE2__)
    if (stream) {
        for (; j < count && reinterpret_cast<uintptr_t>(to + j) % 16 != 0; ++j) to[j] = from[j] + add;
        const __m128 a = _mm_set1_ps(add);
        for (; j + 4 <= count; j += 4) _mm_stream_ps(to + j, _mm_add_ps(_mm_loadu_ps(from + j), a));
    }
#endif
    for (; j < count; ++j) to[j] = from[j] + add;
}

// transpose_panel over 32 x 32 blocks, so both sides' cache lines are used fully, column blocks
// outermost: each destination line is finished before the next is started. Rows in blocks too:
// all of them at once (256 filters of 256x3x3 weights, 9 KB apart) map onto a few L1 sets and
// every load would miss.
template <typename T>
void transpose_blocks(const T* s, int64_t s_stride, T* d, int64_t d_stride, int64_t rows, int64_t cols) {
    constexpr int64_t kBlock = 32;
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock)
        for (int64_t r0 = 0; r0 < rows; r0 += kBlock)
            transpose_panel(s + r0 * s_stride + c0, s_stride, d + c0 * d_stride + r0, d_stride,
                            std::min(kBlock, rows - r0), std::min(kBlock, cols - c0));
}

// dst = src with each image's (rows x cols) matrix transposed, i.e. (N, A, B) -> (N, B, A), in
// 32-wide blocks. A task covers every row of its column block when there are few rows
// (channels-first -> channels-last: rows are channels): then it writes whole destination lines,
// where splitting the rows across tasks would write each line in pieces at different times, with
// a read for ownership and an eviction in between (vgg_3x3_224's 12.8 MB activation: 5.4 -> 3.4 ms).
// A float destination that is the call's output, large (writes_to_memory) and can_stream is streamed,
// in 256 x 256 blocks: each destination line gets up to 1 KB in one run of whole cache lines
// (fcn_up_3x3 and unet_up_2x2 on channels-first memory: 5-10% faster calls).
template <typename T>
void transpose_images(const T* src, T* dst, int64_t batch, int64_t rows, int64_t cols, bool dst_is_output = false) {
    constexpr int64_t kBlock = 32;
    if constexpr (std::is_same_v<T, float>) {
        if (dst_is_output && writes_to_memory(batch * rows * cols * static_cast<int64_t>(sizeof(T))) &&
            can_stream(dst, rows)) {
            constexpr int64_t kStreamBlock = 256;
            const int64_t row_blocks = (rows + kStreamBlock - 1) / kStreamBlock;
            const int64_t col_blocks = (cols + kStreamBlock - 1) / kStreamBlock;
            parallel_for(batch * row_blocks * col_blocks, [&](int64_t task) {
                const int64_t n = task / (row_blocks * col_blocks);
                const int64_t r0 = task / col_blocks % row_blocks * kStreamBlock, c0 = task % col_blocks * kStreamBlock;
                stream_transpose_panel(src + n * rows * cols + r0 * cols + c0, cols, dst + n * rows * cols + c0 * rows + r0,
                                       rows, std::min(kStreamBlock, rows - r0), std::min(kStreamBlock, cols - c0));
                fence_streaming_stores();
            });
            return;
        }
    }
    if (rows <= 16 * kBlock) {
        const int64_t col_blocks = (cols + kBlock - 1) / kBlock;
        parallel_for(batch * col_blocks, [&](int64_t task) {
            const int64_t n = task / col_blocks, c0 = task % col_blocks * kBlock;
            transpose_blocks(src + n * rows * cols + c0, cols, dst + n * rows * cols + c0 * rows, rows, rows,
                             std::min(kBlock, cols - c0));
        });
        return;
    }
    const int64_t row_blocks = (rows + kBlock - 1) / kBlock;
    parallel_for(batch * row_blocks, [&](int64_t task) {
        const int64_t n = task / row_blocks, r0 = task % row_blocks * kBlock;
        transpose_blocks(src + n * rows * cols + r0 * cols, cols, dst + n * rows * cols + r0, rows,
                         std::min(kBlock, rows - r0), cols);
    });
}

// Runs run(src_copy, dst_copy) for an implementation that computes in the other layout: src_copy
// is src with each image's (src_rows x src_cols) matrix transposed, dst_copy is transposed the
// same way, (dst_rows x dst_cols) per image, into dst, the call's output (streamed where
// transpose_images finds that pays). Both copies live in this thread's layout scratch slots,
// reused across calls; `run` must leave those two slots alone.
template <typename T, typename Run>
void through_transposed_copies(const T* src, T* dst, int64_t batch, int64_t src_rows, int64_t src_cols,
                               int64_t dst_rows, int64_t dst_cols, Run&& run) {
    T* src_copy = scratch<T>(ScratchSlot::layout_src, batch * src_rows * src_cols);
    T* dst_copy = scratch<T>(ScratchSlot::layout_dst, batch * dst_rows * dst_cols);
    transpose_images(src, src_copy, batch, src_rows, src_cols);
    run(static_cast<const T*>(src_copy), dst_copy);
    transpose_images(dst_copy, dst, batch, dst_rows, dst_cols, true);
}

}  // namespace fastconv
