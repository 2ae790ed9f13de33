// Conversions between channels-first (N, C, spatial...) and channels-last (N, spatial..., C) memory,
// for implementations that compute in one layout and are handed the other.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "runtime/thread_pool.hpp"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace fastconv {

// d[c * d_stride + r] = s[r * s_stride + c] for r < rows, c < cols, on this thread. 8-row strips
// are read together so each destination line gets 8 contiguous values per visit, instead of one
// store per line. float goes through SSE registers (x86-64's baseline, so no ISA file), 8 x 4
// tiles as two 4 x 4 transposes: the compiler turns the portable strip into one scalar load per
// element, and the RGB stem's 3.2 MB output took a quarter of the layer's time to transpose.
template <typename T>
void transpose_panel(const T* s, int64_t s_stride, T* d, int64_t d_stride, int64_t rows, int64_t cols) {
    int64_t r = 0;
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float>) {
        for (; r + 8 <= rows; r += 8) {
            int64_t c = 0;
            for (; c + 4 <= cols; c += 4) {
                const float* in = s + r * s_stride + c;
                __m128 a0 = _mm_loadu_ps(in), a1 = _mm_loadu_ps(in + s_stride), a2 = _mm_loadu_ps(in + 2 * s_stride),
                       a3 = _mm_loadu_ps(in + 3 * s_stride);
                __m128 b0 = _mm_loadu_ps(in + 4 * s_stride), b1 = _mm_loadu_ps(in + 5 * s_stride),
                       b2 = _mm_loadu_ps(in + 6 * s_stride), b3 = _mm_loadu_ps(in + 7 * s_stride);
                _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
                _MM_TRANSPOSE4_PS(b0, b1, b2, b3);
                float* out = d + c * d_stride + r;
                _mm_storeu_ps(out, a0), _mm_storeu_ps(out + 4, b0);
                _mm_storeu_ps(out + d_stride, a1), _mm_storeu_ps(out + d_stride + 4, b1);
                _mm_storeu_ps(out + 2 * d_stride, a2), _mm_storeu_ps(out + 2 * d_stride + 4, b2);
                _mm_storeu_ps(out + 3 * d_stride, a3), _mm_storeu_ps(out + 3 * d_stride + 4, b3);
            }
            for (; c < cols; ++c)
                for (int64_t i = 0; i < 8; ++i) d[c * d_stride + r + i] = s[(r + i) * s_stride + c];
        }
    }
#endif
    for (; r + 8 <= rows; r += 8)
        for (int64_t c = 0; c < cols; ++c)
            for (int64_t i = 0; i < 8; ++i) d[c * d_stride + r + i] = s[(r + i) * s_stride + c];
    for (; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) d[c * d_stride + r] = s[r * s_stride + c];
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
template <typename T>
void transpose_images(const T* src, T* dst, int64_t batch, int64_t rows, int64_t cols) {
    constexpr int64_t kBlock = 32;
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

}  // namespace fastconv
