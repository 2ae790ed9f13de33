// Channels-first direct convolution microkernels: the NCHW counterpart of igemm. A tile is KB
// output channels x P consecutive output pixels of one row, vectorised along the row, so every
// vector lane does useful work whatever the channel count per group (grouped layers with 8
// channels per group fill whole vectors) and the input is read where it lies: no transposes, no
// column matrix, no padded copy. Padding columns are masked lanes (never read); padding rows are
// skipped by the caller. Unit stride along the width only: a strided row is not a vector load.
#pragma once

#include <cstdint>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace fastconv::convchw {

// The weights (K, C/groups, kernel...) as both kernel families read them:
// [group][block of kb output channels][c][tap][kb], zero past each group's output channels.
int64_t packed_block_floats(const ConvProblem& p, int64_t kb);  // one block
void pack_channel_blocks(const ConvProblem& p, int64_t kb, const float* w, float* out);

// The widest kernel row a tile accepts: lane masks per kernel column live on the stack.
constexpr int64_t kMaxKernelWidth = 32;

struct TileArgs {
    const float* x;         // channel 0 of the group, at input row 0, column 0
    int64_t x_stride;       // elements between channel planes
    const int64_t* rows;    // per kernel row r < kh: offset of the input row it reads, or -1 (padding)
    int64_t kh;             // kernel rows (kd * KH + kh for 3-D: every (depth, row) pair)
    int64_t kw;             // kernel columns, <= kMaxKernelWidth
    int64_t dw;             // dilation along the width
    int64_t col;            // input column read by pixel 0 through kernel column 0 (may be < 0)
    int64_t in_width;       // columns outside [0, in_width) read zeros
    int64_t channels;       // input channels of the group (the reduction's outer loop)
    const float* w;         // packed: w[((c * kh + r) * kw + s) * KB + k], zero for k >= kb
    const float* bias;      // kb values, or null
    bool accumulate;        // start from y's values (an earlier chunk of channels) instead of bias
    int64_t kb;             // output channels stored, <= KB
    float* y;               // channel 0 of the tile, at its first pixel
    int64_t y_stride;       // elements between output channel planes
    int64_t width;          // pixels stored, <= P
};

// y[k * y_stride + j] = (accumulate ? y[k * y_stride + j] : bias[k] or 0) + sum over c, r with rows[r] >= 0, s of
//     x[c * x_stride + rows[r] + col + s * dw + j] (0 outside the row) * w[((c * kh + r) * kw + s) * KB + k]
// for k < kb, j < width; each element one FMA chain in (c, r, s) order, so the tiling and the
// thread count never change a result. Splitting the channels into chunks run with `accumulate`
// continues the same chain through memory, so it gives the same bits as one call.
using UkernelFn = void (*)(const TileArgs& args);

struct Ukernel {
    const char* name;  // e.g. "f32_conv_chw_ukernel_8x32__avx512f"
    Isa isa;
    int kb;      // output channels per tile
    int pixels;  // pixels per tile
    UkernelFn fn;
};

// Every compiled kernel, best ISA first, ending with the portable one.
const std::vector<Ukernel>& ukernels();

// The fraction of a tile's FMA lanes doing useful work for `channels` output channels per group
// on rows of `width` pixels, times how close its loads let it come to the FMA ports' peak.
double efficiency(const Ukernel& kernel, int64_t channels, int64_t width);

// The two factors both kernel families' tile choices share: the share of a tile's kb channel
// lanes that `channels` output channels per group fill, and how close a tile of kb channels x
// `vectors` pixel vectors comes to the FMA ports' rate given its loads.
double channel_use(int64_t channels, int64_t kb);
double issue_rate(int64_t kb, int64_t vectors);

// Of the active ISA's kernels, the most efficient for this shape.
const Ukernel& choose(int64_t channels, int64_t width);

// The flat form (algos/padded_chw.cpp): the input is first copied, per task, into zero-padded
// planes split by residue modulo the stride (polyphase), so that every output row reads its taps at
// unit stride and consecutive output rows follow each other in one flat index with a few junk
// pixels between them. A tile is KB output channels x P consecutive flat pixels; it reads only
// inside the copy and writes whole tiles to the caller's staging rows, so it needs no masks.
struct FlatTileArgs {
    const float* x;              // the tile's first flat pixel in the copy's first channel
    int64_t channel_stride;      // floats between the copy's channels
    const int64_t* tap_offsets;  // per tap: floats from a channel's x to the value the tap reads
    int64_t taps;
    int64_t channels;
    const float* w;  // packed: w[(c * taps + tap) * KB + k]
    float* y;        // KB rows of P floats, y_stride apart
    int64_t y_stride;
};

// y[k * y_stride + j] = sum over c < channels, tap < taps of
//     x[c * channel_stride + tap_offsets[tap] + j] * w[(c * taps + tap) * KB + k]
// for every k < KB and j < P, each element one FMA chain in (c, tap) order from zero.
using FlatUkernelFn = void (*)(const FlatTileArgs& args);

struct FlatUkernel {
    const char* name;  // e.g. "f32_conv_chw_flat_ukernel_4x24__avx2_fma"
    Isa isa;
    int kb;      // output channels per tile
    int pixels;  // flat pixels per tile
    FlatUkernelFn fn;
};

// Every compiled flat kernel, best ISA first, ending with the portable one.
const std::vector<FlatUkernel>& flat_ukernels();

void f32_conv_chw_flat_ukernel_8x48__avx512f(const FlatTileArgs& args);
void f32_conv_chw_flat_ukernel_12x32__avx512f(const FlatTileArgs& args);
void f32_conv_chw_flat_ukernel_4x24__avx2_fma(const FlatTileArgs& args);
void f32_conv_chw_flat_ukernel_6x16__avx2_fma(const FlatTileArgs& args);
void f32_conv_chw_flat_ukernel_6x16__neon(const FlatTileArgs& args);
void f32_conv_chw_flat_ukernel_4x8__scalar(const FlatTileArgs& args);

void f32_conv_chw_ukernel_6x64__avx512f(const TileArgs& args);
void f32_conv_chw_ukernel_8x32__avx512f(const TileArgs& args);
void f32_conv_chw_ukernel_12x32__avx512f(const TileArgs& args);
void f32_conv_chw_ukernel_8x16__avx512f(const TileArgs& args);
void f32_conv_chw_ukernel_24x16__avx512f(const TileArgs& args);
void f32_conv_chw_ukernel_6x16__avx2_fma(const TileArgs& args);
void f32_conv_chw_ukernel_12x8__avx2_fma(const TileArgs& args);
void f32_conv_chw_ukernel_4x8__scalar(const TileArgs& args);

}  // namespace fastconv::convchw
