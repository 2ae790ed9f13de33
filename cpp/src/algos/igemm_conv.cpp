// Direct convolution on channels-last memory through the indirect-GEMM microkernels
// (igemm/igemm.hpp), forward and transposed, float32. No column matrix: each MR x NR tile of the
// output (MR pixels x NR channels) gets MR pointers per kernel tap into the source activation and
// one FMA chain per element over (tap, channel).
//
// Transposed convolution is stride-decomposed: the destination pixels split into prod(stride)
// classes by their residue modulo the stride, and each class reads only the taps that land on real
// source elements, so no multiply ever meets an inserted zero (only border padding reads the zero
// row). The forward op is the one-class case with every tap.
//
// Weights are packed once per call (or once per plan: pack/run_packed) into per-class, per-group,
// NR-wide column blocks, zero-padded so partial blocks need no scalar tail. Channels-first problems
// are transposed in and out through per-thread scratch: the transposes cost far less than the
// arithmetic on the layers this path is chosen for.
//
// Every output element is written by exactly one microkernel call that sums all its terms in a
// fixed order, so results are bitwise identical for any thread count and any task split.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "fastconv/index_map.hpp"
#include "igemm/igemm.hpp"
#include "layout.hpp"
#include "registry.hpp"
#include "runtime/prefetch.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/workspace.hpp"

namespace fastconv {
namespace {

using Tap = std::array<int64_t, kMaxSpatialDims>;

// Destination pixels first + step * j (per dimension, j < count) and the taps they all read.
struct TapClass {
    Dims first{0, 0, 0};
    Dims step{1, 1, 1};
    Dims count{1, 1, 1};
    std::vector<Tap> taps;
    std::vector<int64_t> tap_index;  // the taps' flat indices in the weight's kernel dimensions
    int64_t weight_offset = 0;       // floats into PackedConv::weights
    int64_t src_index_offset = 0;    // entries into PackedConv::src_index
    int64_t dst_index_offset = 0;    // entries into PackedConv::dst_index
    int64_t pixels() const { return count[0] * count[1] * count[2]; }
};

// Everything about a problem that does not depend on the activations: the packed weights and the
// indirection tables. The tables say, per class, tile, tap and row, which source pixel a row reads
// (-1: padding, or a row past the tile's end) and, per tile and row, which destination pixel it
// writes; a run only adds the image's base address, so the index arithmetic is done once per
// problem (once per plan) instead of once per image, group and column block.
struct PackedConv {
    const igemm::Ukernel* ukernel;
    int64_t reduction;      // channels summed per group
    int64_t columns;        // destination channels per kernel call: a group's, or a pair's
    int64_t column_blocks;  // ceil(columns / NR)
    // Groups per kernel call (the ukernel's groups_per_call): each call covers call_channels
    // source channels, so call g reads from channel g * call_channels on.
    int64_t call_groups = 1;
    int64_t call_channels = 0;
    std::vector<TapClass> classes;
    OwnedBuffer owned;  // plans own their buffers
    const float* weights = nullptr;            // owned, or per-thread scratch for one call
    const float* raw_weights = nullptr;        // set instead when each task packs its own block
    std::shared_ptr<const std::vector<int64_t>> tables;  // src entries, then dst entries
    const int64_t* src_index = nullptr;
    const int64_t* dst_index = nullptr;
    // Width-merged form (see merges_width): the source is a channels-last copy of x padded on every
    // side to src_dims, so every tap reads memory (zeros included) and no row needs the zero
    // buffer; each tap is a (kd, kh) row and the reduction runs over (kw, channel). src_index then
    // holds one entry per tile row, its window's origin pixel in the copy, and tap t adds
    // tap_offset[t] floats: a tile's table is a few adds and the stem's indices 100 KB, not 700
    // (building the tables fell from 10% to 6% of the channels-last stem's samples on Zen 5; its
    // time, pinned alternated processes, 1% better, within noise; conv3d_video 2%).
    bool merged = false;
    std::vector<int64_t> tap_offset;
    // Strided pointwise form (is_strided_pointwise, channels-first): the source is a channels-last
    // copy of only the pixels the stride reads, out_size large, indexed as a stride-1 problem.
    bool subsampled = false;
    Dims src_dims{1, 1, 1};  // the source's spatial size as the indices see it
    // Full tiles within one output row go to the ukernel's row_of_three (forward, 3 taps wide at
    // stride 1 and dilation 1 along the width, one class of every tap in order).
    bool rows_of_three = false;
};

// Small-channel forward layers (the RGB stem: 3 channels, 7x7) would give the microkernel a
// 3-long reduction per tap, so per-tap pointer setup would cost more than the FMAs. On a
// channels-last copy of x padded in width, the kernel row of one pixel (kw = 0..KW-1, all
// channels) is one contiguous run of KW*C values: merging kw into the reduction turns 49 taps of
// 3 into 7 taps of 21. With many channels the merge buys nothing and costs a functional call
// dearly: its weight packing reads each filter row KW times at a stride (measured 2.5x slower
// for resnet_3x3_7 on channels-first input than transposing and packing per tap). Up to 32
// channels with small weights it still pays: conv3d_video's 27 taps of 32 become 9 of 96 (5%
// faster on Zen 3), where 64 channels (conv1d_audio, resnet_3x3_56) gain nothing.
bool merges_width(const ConvProblem& p) {
    return p.kind == ConvKind::forward && p.groups == 1 && p.dilation[2] == 1 && p.kernel[2] > 1 &&
           (p.in_channels < 16 || (p.in_channels <= 32 && p.weight_elements() <= 65536));
}

// a mod m in [0, m) for m > 0, without the overflow of (a % m + m) when m is near 2^63.
int64_t positive_mod(int64_t a, int64_t m) {
    const int64_t r = a % m;
    return r < 0 ? r + m : r;
}

std::vector<TapClass> tap_classes(const ConvProblem& p, bool merged) {
    std::vector<TapClass> classes;
    if (p.kind == ConvKind::forward) {
        TapClass all;
        all.count = p.out_size;
        for (int64_t kd = 0; kd < p.kernel[0]; ++kd)
            for (int64_t kh = 0; kh < p.kernel[1]; ++kh)
                for (int64_t kw = 0; kw < (merged ? 1 : p.kernel[2]); ++kw) {
                    all.taps.push_back({kd, kh, kw});
                    all.tap_index.push_back((kd * p.kernel[1] + kh) * p.kernel[2] + kw);
                }
        classes.push_back(std::move(all));
        return classes;
    }
    const Dims& s = p.stride;
    // Residues at or past the source size have no pixels: bounding the loops by it keeps a stride
    // of 2^31 on a small problem from walking 2^31 empty classes (found by fuzz_problem).
    for (int64_t rd = 0; rd < std::min(s[0], p.in_size[0]); ++rd)
        for (int64_t rh = 0; rh < std::min(s[1], p.in_size[1]); ++rh)
            for (int64_t rw = 0; rw < std::min(s[2], p.in_size[2]); ++rw) {
                TapClass c;
                const Dims residue{rd, rh, rw};
                for (int d = 0; d < kMaxSpatialDims; ++d) {
                    c.first[d] = residue[d];
                    c.step[d] = s[d];
                    c.count[d] = ceil_div(p.in_size[d] - residue[d], s[d]);
                }
                if (c.pixels() == 0) continue;
                auto lands = [&](int d, int64_t r) {
                    return positive_mod(residue[d] + p.pad_before[d] - r * p.dilation[d], s[d]) == 0;
                };
                for (int64_t kd = 0; kd < p.kernel[0]; ++kd)
                    for (int64_t kh = 0; kh < p.kernel[1]; ++kh)
                        for (int64_t kw = 0; kw < p.kernel[2]; ++kw)
                            if (lands(0, kd) && lands(1, kh) && lands(2, kw)) {
                                c.taps.push_back({kd, kh, kw});
                                c.tap_index.push_back((kd * p.kernel[1] + kh) * p.kernel[2] + kw);
                            }
                classes.push_back(std::move(c));
            }
    return classes;
}

void fill_indices(const ConvProblem& p, const PackedConv& packed, const TapClass& c, int64_t MR, int64_t* src_index,
                  int64_t* dst_index) {
    const bool forward = p.kind == ConvKind::forward;
    const Dims& src_size = packed.src_dims;
    const Dims& dst_size = forward ? p.out_size : p.in_size;
    const int64_t ks = static_cast<int64_t>(c.taps.size()), pixels = c.pixels();
    const int64_t tiles = (pixels + MR - 1) / MR;
    parallel_for(tiles, [&](int64_t tile) {
        for (int64_t i = 0; i < MR; ++i) {
            const int64_t j = tile * MR + i;
            int64_t* src_row = src_index + (packed.merged ? tile * MR : tile * ks * MR) + i;
            if (j >= pixels) {
                dst_index[tile * MR + i] = -1;
                // Merged: the copy's first pixels, readable and never stored; else the zero row.
                if (packed.merged) *src_row = 0;
                else for (int64_t t = 0; t < ks; ++t) src_row[t * MR] = -1;
                continue;
            }
            const Dims q{c.first[0] + c.step[0] * (j / c.count[2] / c.count[1]),
                         c.first[1] + c.step[1] * (j / c.count[2] % c.count[1]), c.first[2] + c.step[2] * (j % c.count[2])};
            dst_index[tile * MR + i] = (q[0] * dst_size[1] + q[1]) * dst_size[2] + q[2];
            if (packed.merged) {
                // The copy's coordinates are the input's plus pad_before: the window starts at q * stride.
                *src_row = ((q[0] * p.stride[0]) * src_size[1] + q[1] * p.stride[1]) * src_size[2] + q[2] * p.stride[2];
                continue;
            }
            for (int64_t t = 0; t < ks; ++t) {
                int64_t s[kMaxSpatialDims];
                bool valid = true;
                for (int d = 0; d < kMaxSpatialDims; ++d) {
                    const int64_t r = c.taps[t][d];
                    if (packed.subsampled) {
                        s[d] = q[d];
                    } else if (forward) {
                        s[d] = q[d] * p.stride[d] - p.pad_before[d] + r * p.dilation[d];
                    } else {
                        const int64_t num = q[d] + p.pad_before[d] - r * p.dilation[d];
                        s[d] = num >= 0 ? num / p.stride[d] : -1;  // exact: the class guarantees it
                    }
                    valid = valid && s[d] >= 0 && s[d] < src_size[d];
                }
                src_row[t * MR] = valid ? (s[0] * src_size[1] + s[1]) * src_size[2] + s[2] : -1;
            }
        }
    });
}

// out[(t * R + r) * NR + j] = tile[j * span + (r - r0) * taps + t] for every tap t, r0 <= r < r1
// and j < valid; zero for j in [valid, NR). A forward block's lines from the gathered tile, whose
// rows hold each column's taps of a channel side by side: per channel, the valid x taps block is
// one panel transpose (SSE registers for float), where element by element the gather from the
// tile's rows cost as much as reading the weights.
void write_tap_lines(const float* tile, int64_t span, int64_t valid, int64_t r0, int64_t r1, int64_t taps, int64_t R,
                     int64_t NR, float* out) {
    for (int64_t r = r0; r < r1; ++r) {
        transpose_panel(tile + (r - r0) * taps, span, out + r * NR, R * NR, valid, taps);
        for (int64_t t = 0; t < taps; ++t) std::fill(out + (t * R + r) * NR + valid, out + (t * R + r + 1) * NR, 0.0f);
    }
}

// Packs the weights of one class, group and column block: [tap][reduction channel][NR columns].
void pack_block(const ConvProblem& p, const PackedConv& packed, const TapClass& c, int64_t g, int64_t cb,
                const float* w, float* out) {
    const bool forward = p.kind == ConvKind::forward;
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group(), taps = p.kernel_spatial();
    const int64_t NR = packed.ukernel->nr, R = packed.reduction;
    const int64_t ks = static_cast<int64_t>(c.taps.size());
    const int64_t valid = std::min<int64_t>(NR, packed.columns - cb * NR);
    const int64_t* tap_index = c.tap_index.data();
    if (const int64_t bundle = packed.ukernel->groups_per_call; bundle > 1) {
        // Groups bundle * g on, Kg filters each (see igemm.hpp): per (tap, channel) NR values, the
        // bundle's NR consecutive output channels.
        for (int64_t t = 0; t < ks; ++t)
            for (int64_t r = 0; r < R; ++r)
                for (int64_t j = 0; j < NR; ++j)
                    out[(t * R + r) * NR + j] = w[((bundle * g * Kg + j) * Cg + r) * taps + tap_index[t]];
        return;
    }
    if (packed.merged) {
        // Width-merged (few input channels, so small weights): reduction index r = kw * Cg + channel.
        for (int64_t t = 0; t < ks; ++t)
            for (int64_t r = 0; r < R; ++r) {
                float* line = out + (t * R + r) * NR;
                for (int64_t j = 0; j < NR; ++j) {
                    const int64_t k = g * Kg + cb * NR + j;
                    line[j] = j < valid ? w[(k * Cg + r % Cg) * taps + r / Cg + tap_index[t]] : 0.0f;
                }
            }
        return;
    }
    // Element (tap t, reduction r, column j) is w[base + j * column_stride + r * reduction_stride +
    // tap_index[t]]. Forward: w[k][c][tap] with k the column and c the reduction channel; transposed:
    // w[k][c][tap] with k the reduction (source channel) and c the column (destination channel).
    const int64_t base = forward ? (g * Kg + cb * NR) * Cg * taps : (g * Kg * Cg + cb * NR) * taps;
    const int64_t column_stride = forward ? Cg * taps : taps;
    const int64_t reduction_stride = forward ? taps : Cg * taps;
    if (forward && taps == 1) {
        // 1x1: the block is the transpose of its columns' filters, each R contiguous channels
        // (through the 8x4 panel transpose: per element, with a copy per 8 channels, packing took
        // a fifth of resnet_1x1_s2's functional call).
        transpose_panel(w + base, column_stride, out, NR, valid, R);
        for (int64_t r = 0; r < R; ++r) std::fill(out + r * NR + valid, out + (r + 1) * NR, 0.0f);
        return;
    }
    // A block of reduction channels at a time, every tap. Forward, the columns' filter rows lie
    // Cg * taps floats apart, a stride that maps them onto a handful of L1 sets (Cg = 512, 3x3: two),
    // so their parts for these channels are first copied side by side into a tile of up to 64 KB,
    // each part one long contiguous run (runs of 8 channels left the copy waiting on memory:
    // resnet_3x3_7 on igemm 20% slower, resnet_3x3_14 10%); then every tap's destination is written
    // as a contiguous run of lines from the tile. (Writing each element to its tap's line, R * NR
    // floats apart, made packing cost as much as the product on resnet_3x3_7.) Transposed, a
    // channel's columns are already contiguous: 8 channels at a time.
    const int64_t channels_per_copy =
        forward ? std::max<int64_t>(8, (int64_t{64} << 10) / (NR * taps * int64_t{sizeof(float)}) / 8 * 8) : 8;
    const int64_t span = channels_per_copy * taps;  // floats of one column's row per channel block
    float* tile = forward ? scratch<float>(ScratchSlot::pack_tile, valid * span) : nullptr;
    for (int64_t r0 = 0; r0 < R; r0 += channels_per_copy) {
        const int64_t r1 = std::min(R, r0 + channels_per_copy);
        const float* from_block = w + base + r0 * reduction_stride;
        int64_t tile_column = column_stride, tile_channel = reduction_stride;
        if (forward) {
            const int64_t count = (r1 - r0) * taps;
            for (int64_t j = 0; j < valid; ++j)
                std::copy_n(from_block + j * column_stride, count, tile + j * span);
            if (ks == taps) {  // every tap, in order: tap_index[t] == t
                write_tap_lines(tile, span, valid, r0, r1, taps, R, NR, out);
                continue;
            }
            from_block = tile;
            tile_column = span;
        }
        for (int64_t t = 0; t < ks; ++t) {
            const float* from_tap = from_block + tap_index[t];
            for (int64_t r = r0; r < r1; ++r) {
                const float* from = from_tap + (r - r0) * tile_channel;
                float* line = out + (t * R + r) * NR;
                int64_t j = 0;
                for (; j + 8 <= valid; j += 8)  // a fixed-length strip the compiler turns into one store
                    for (int64_t i = 0; i < 8; ++i) line[j + i] = from[(j + i) * tile_column];
                for (; j < valid; ++j) line[j] = from[j * tile_column];
                std::fill(line + valid, line + NR, 0.0f);
            }
        }
    }
}

// The indirection tables depend only on the geometry (sizes, kernel, stride, dilation, padding,
// the tile height and the merged form), not on channels, batch or weights, so functional calls
// share them through a small cache: building them costs up to a seventh of a call (conv3d_video:
// 1.4 million entries). Bounded by entries and bytes; the tables are immutable once built.
std::shared_ptr<const std::vector<int64_t>> index_tables(const ConvProblem& p, const PackedConv& packed, int64_t MR,
                                                         int64_t src_entries, int64_t dst_entries) {
    using Key = std::array<int64_t, 21>;
    const Key key{static_cast<int64_t>(p.kind), MR, packed.merged ? 1 : packed.subsampled ? 2 : 0,
                  p.in_size[0], p.in_size[1], p.in_size[2], p.out_size[0], p.out_size[1], p.out_size[2],
                  p.kernel[0], p.kernel[1], p.kernel[2], p.stride[0], p.stride[1], p.stride[2],
                  p.dilation[0], p.dilation[1], p.dilation[2], p.pad_before[0], p.pad_before[1], p.pad_before[2]};
    constexpr size_t kMaxEntries = 16;
    constexpr size_t kMaxBytes = size_t{64} << 20;
    static std::mutex mutex;
    static std::vector<std::pair<Key, std::shared_ptr<const std::vector<int64_t>>>> cache;  // most recent last
    {
        std::lock_guard<std::mutex> lock(mutex);
        for (size_t i = 0; i < cache.size(); ++i)
            if (cache[i].first == key) {
                auto entry = cache[i];
                cache.erase(cache.begin() + static_cast<std::ptrdiff_t>(i));
                cache.push_back(entry);
                return entry.second;
            }
    }
    auto tables = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(src_entries + dst_entries));
    for (const TapClass& c : packed.classes)
        fill_indices(p, packed, c, MR, tables->data() + c.src_index_offset,
                     tables->data() + src_entries + c.dst_index_offset);
    const size_t bytes = tables->size() * sizeof(int64_t);
    if (bytes <= kMaxBytes) {
        std::lock_guard<std::mutex> lock(mutex);
        cache.emplace_back(key, tables);
        size_t total = 0;
        for (const auto& entry : cache) total += entry.second->size() * sizeof(int64_t);
        while (cache.size() > kMaxEntries || total > kMaxBytes) {
            total -= cache.front().second->size() * sizeof(int64_t);
            cache.erase(cache.begin());
        }
    }
    return tables;
}

// Destination channels one kernel call covers: a group's, or a bundle's (groups_per_call groups).
int64_t call_columns(const igemm::Ukernel& ukernel, const ConvProblem& p) {
    return (p.kind == ConvKind::forward ? p.out_channels_per_group() : p.in_channels_per_group()) *
           ukernel.groups_per_call;
}

// The extent of the width-merged form's padded copy along d: what the output's windows span, at
// most the padded input.
int64_t merged_extent(const ConvProblem& p, int d) {
    return (p.out_size[d] - 1) * p.stride[d] + (p.kernel[d] - 1) * p.dilation[d] + 1;
}

// Not worth it (or even allocatable) when the padding dwarfs the input, say padding 2^40 with
// stride 2^40, where the unmerged form points padded taps at one zero row.
bool padded_copy_is_small(const ConvProblem& p) {
    for (int d = 0; d < kMaxSpatialDims; ++d)
        if (merged_extent(p, d) > 2 * (p.in_size[d] + (p.kernel[d] - 1) * p.dilation[d]) + 64) return false;
    return true;
}

// Packs into fresh buffers the result owns (for plans) or, with `use_scratch`, into this thread's
// reusable scratch (functional calls: no fresh pages, so no page faults, on every call).
// With `defer_weights` only the layout and the indirection tables are made: each task of the run
// packs the one block it multiplies by into its own cache-resident scratch, so weights that are
// large next to the activations never make a round trip through memory as a packed copy.
std::shared_ptr<PackedConv> pack_with(const igemm::Ukernel& ukernel, const ConvProblem& p, const float* w,
                                      bool use_scratch, bool defer_weights = false) {
    auto packed = std::make_shared<PackedConv>();
    const bool forward = p.kind == ConvKind::forward;
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group();
    const int64_t NR = ukernel.nr;
    packed->ukernel = &ukernel;
    const bool merged = merges_width(p) && padded_copy_is_small(p);
    packed->merged = merged;
    packed->reduction = merged ? Cg * p.kernel[2] : forward ? Cg : Kg;
    packed->call_groups = p.groups / ukernel.groups_per_call;
    packed->call_channels = packed->reduction * ukernel.groups_per_call;
    packed->columns = call_columns(ukernel, p);
    packed->column_blocks = (packed->columns + NR - 1) / NR;
    packed->classes = tap_classes(p, merged);
    // Transposing all of a strided 1x1 layer's channels-first input moved prod(stride) times the
    // data it reads (resnet_1x1_s2: the transposes were a third of the call).
    packed->subsampled = p.layout == Layout::channels_first && is_strided_pointwise(p);
    packed->src_dims = forward && !packed->subsampled ? p.in_size : p.out_size;
    packed->rows_of_three = ukernel.row_of_three != nullptr && forward && !merged && p.kernel[2] == 3 &&
                            p.stride[2] == 1 && p.dilation[2] == 1;
    if (merged) {
        Dims& extent = packed->src_dims;
        for (int d = 0; d < kMaxSpatialDims; ++d) extent[d] = merged_extent(p, d);
        for (const Tap& tap : packed->classes[0].taps)
            packed->tap_offset.push_back(((tap[0] * p.dilation[0]) * extent[1] + tap[1] * p.dilation[1]) * extent[2] *
                                         p.in_channels);
    }
    const int64_t MR = ukernel.mr;
    int64_t total = 0, src_entries = 0, dst_entries = 0;
    for (TapClass& c : packed->classes) {
        const int64_t ks = static_cast<int64_t>(c.taps.size()), tiles = (c.pixels() + MR - 1) / MR;
        c.weight_offset = total;
        c.src_index_offset = src_entries;
        c.dst_index_offset = dst_entries;
        total += packed->call_groups * packed->column_blocks * ks * packed->reduction * NR;
        src_entries += tiles * (merged ? 1 : ks) * MR;
        dst_entries += tiles * MR;
    }
    const size_t bytes = static_cast<size_t>(defer_weights ? 0 : total) * sizeof(float) + 64;
    float* data = static_cast<float*>(packed_buffer(bytes, use_scratch, packed->owned));
    packed->weights = data;
    packed->tables = index_tables(p, *packed, MR, src_entries, dst_entries);
    packed->src_index = packed->tables->data();
    packed->dst_index = packed->src_index + src_entries;
    if (defer_weights) {
        packed->raw_weights = w;
        return packed;
    }
    const int64_t blocks = packed->call_groups * packed->column_blocks;
    for (const TapClass& c : packed->classes) {
        const int64_t block_size = static_cast<int64_t>(c.taps.size()) * packed->reduction * NR;
        parallel_for(blocks, [&](int64_t block) {
            pack_block(p, *packed, c, block / packed->column_blocks, block % packed->column_blocks, w,
                       data + c.weight_offset + block * block_size);
        });
    }
    return packed;
}

// Runs on channels-last src; dst is channels-last, or channels-first when dst_channels_first.
void run_channels_last(const ConvProblem& p, const PackedConv& pw, const float* src, const float* bias, float* dst,
                       bool dst_channels_first) {
    const bool forward = p.kind == ConvKind::forward;
    const igemm::Ukernel& uk = *pw.ukernel;
    const int64_t MR = uk.mr, NR = uk.nr;
    const int64_t src_channels = forward ? p.in_channels : p.out_channels;
    const int64_t dst_channels = p.dst_channels();
    const Dims& src_size = pw.src_dims;
    const Dims& dst_size = forward ? p.out_size : p.in_size;
    const int64_t src_spatial = src_size[0] * src_size[1] * src_size[2];
    const int64_t dst_spatial = dst_size[0] * dst_size[1] * dst_size[2];
    const int64_t out_width = std::max<int64_t>(1, p.out_size[2]);  // a forward tile's pixels are flat output pixels

    // Tasks: image x column block x chunk of tiles of one class, every group inside the task: the
    // table of row pointers of a tile is built once and serves all groups through the kernel's
    // a_offset (for a small group, building it costs as much as the product). When the chunks
    // alone give every thread several tasks, a task also takes every column block, so the table
    // serves those too (conv3d_video with AVX2's 16-column tiles built each table twice, a tenth
    // of its time). The chunk size only balances the load; it never changes what a microkernel
    // call sums. With deferred weights a task is one (class, group, column block) over every image
    // and tile, so it packs its block once, into this thread's scratch, and uses it while it is hot.
    const bool deferred = pw.raw_weights != nullptr;
    int64_t total_tiles = 0;
    for (const TapClass& c : pw.classes) total_tiles += (c.pixels() + MR - 1) / MR;
    const int64_t threads = ThreadPool::instance().num_threads();
    const int64_t groups = pw.call_groups;
    const int64_t work = (deferred ? groups : p.batch) * pw.column_blocks * total_tiles * (deferred ? 1 : groups);
    // A channels-first forward destination is staged per chunk in a 64 KB channels-last buffer
    // (see below), which bounds the chunk.
    const int64_t stage_tiles =
        dst_channels_first && forward ? std::max<int64_t>(1, 16384 / std::max<int64_t>(1, MR * dst_channels)) : 32;
    const int64_t chunk_tiles = deferred ? total_tiles
                                         : std::max<int64_t>(1, std::min({int64_t{32}, stage_tiles,
                                                                          work / (8 * threads) / groups}));
    std::vector<std::array<int64_t, 3>> chunks;  // (class, first tile, end tile)
    for (size_t ci = 0; ci < pw.classes.size(); ++ci) {
        const int64_t tiles = (pw.classes[ci].pixels() + MR - 1) / MR;
        for (int64_t t0 = 0; t0 < tiles; t0 += chunk_tiles)
            chunks.push_back({static_cast<int64_t>(ci), t0, std::min(tiles, t0 + chunk_tiles)});
    }
    const int64_t num_chunks = static_cast<int64_t>(chunks.size());
    const bool every_block = !deferred && p.batch * num_chunks >= 4 * threads;
    const int64_t task_blocks = every_block ? 1 : pw.column_blocks;  // column-block tasks per image
    const int64_t outer = deferred ? groups * pw.column_blocks : p.batch * task_blocks;
    // A task that covers every column block of a forward chunk (whose pixels are consecutive
    // destination pixels: one class, identity dst_index) writes its tiles to an L1/L2-sized
    // channels-last stage and transposes that into the channels-first destination, so the output
    // never makes a round trip through memory in the other layout (the RGB stem's 3.2 MB output).
    // Otherwise the whole destination is computed channels-last and transposed afterwards.
    const bool staged = dst_channels_first && forward && every_block;
    const bool stream = writes_to_memory(p.dst_elements() * static_cast<int64_t>(sizeof(float)));
    float* dst_last = dst;
    if (dst_channels_first && !staged) dst_last = scratch<float>(ScratchSlot::layout_dst, p.batch * dst_spatial * dst_channels);

    // Not for tiles narrower than a cache line (grouped_3x3's 8-channel groups): neighbouring groups
    // share each line, so every line was fetched twice, and the prefetches cost more than the stores
    // they spared (grouped_3x3 channels-last, Zen 4: 8% slower with them, pinned alternated runs).
    const bool prefetch = output_prefetch_pays() && NR * int64_t{sizeof(float)} >= kCacheLineBytes;
    parallel_for(outer * num_chunks, [&](int64_t task) {
        const auto& chunk = chunks[task % num_chunks];
        const int64_t cb0 = every_block ? 0 : (task / num_chunks) % pw.column_blocks;
        const int64_t cb1 = every_block ? pw.column_blocks : cb0 + 1;
        const TapClass& cls = pw.classes[chunk[0]];
        const int64_t ks = static_cast<int64_t>(cls.taps.size());
        const int64_t block_size = ks * pw.reduction * NR;
        // Deferred: this task's one group; otherwise every group, each with its packed block.
        const int64_t g0 = deferred ? (task / num_chunks / pw.column_blocks) % groups : 0;
        const int64_t g1 = deferred ? g0 + 1 : groups;
        const float* deferred_block = nullptr;
        if (deferred) {
            float* block = scratch<float>(ScratchSlot::gemm_b, std::max<int64_t>(block_size, 16));
            pack_block(p, pw, cls, g0, cb0, pw.raw_weights, block);
            deferred_block = block;
        }

        // Padding rows point here for every group's offset (see igemm.hpp).
        const int64_t zeros = std::max<int64_t>(1, p.groups * pw.reduction);
        float* zero = scratch<float>(ScratchSlot::accumulators, zeros);
        std::fill_n(zero, zeros, 0.0f);
        // A task over several column blocks whose weights together outgrow half an L2 builds its
        // chunk's tables first and then runs block by block, so one block's weights stay in L2
        // across the chunk's tiles: tile by tile, resnet_3x3_28 streamed all 590 KB of its
        // weights from L3 for every tile (10% of its time). Smaller weights stay tile by tile, so
        // a tile's input rows are read into L1 once for all blocks (conv3d_video, the RGB stem:
        // 6-10% faster that way).
        constexpr int64_t kHalfL2Floats = (256 << 10) / sizeof(float);
        const bool blocks_outer = cb1 - cb0 > 1 && (cb1 - cb0) * (g1 - g0) * block_size > kHalfL2Floats;
        const int64_t table = std::max<int64_t>(ks, 1) * MR;
        const float** a = static_cast<const float**>(scratch_bytes(
            ScratchSlot::columns, static_cast<size_t>((blocks_outer ? chunk[2] - chunk[1] : 1) * table) * sizeof(float*)));
        float* c_rows[16];
        const int64_t pixels = cls.pixels();
        const int64_t n0 = deferred ? 0 : task / num_chunks / task_blocks;
        const int64_t n1 = deferred ? p.batch : n0 + 1;
        const int64_t first_pixel = chunk[1] * MR, chunk_pixels = std::min(pixels, chunk[2] * MR) - first_pixel;
        float* stage = staged ? scratch<float>(ScratchSlot::gemm_a, chunk_pixels * dst_channels) : nullptr;
        for (int64_t n = n0; n < n1; ++n) {
            const float* src_image = src + n * src_spatial * src_channels;
            // The stage holds the chunk's pixels from first_pixel on, where dst_row indexes the image.
            float* dst_image = staged ? stage - first_pixel * dst_channels : dst_last + n * dst_spatial * dst_channels;
            const auto fill_table = [&](int64_t tile, const float** rows) {
                if (pw.merged) {
                    const int64_t* origin = pw.src_index + cls.src_index_offset + tile * MR;
                    const float* window[16];
                    for (int64_t i = 0; i < MR; ++i) window[i] = src_image + origin[i] * src_channels;
                    for (int64_t t = 0; t < ks; ++t) {
                        const int64_t offset = pw.tap_offset[t];
                        for (int64_t i = 0; i < MR; ++i) rows[t * MR + i] = window[i] + offset;
                    }
                    return;
                }
                const int64_t* src_row = pw.src_index + cls.src_index_offset + tile * ks * MR;
                for (int64_t e = 0; e < ks * MR; ++e)
                    rows[e] = src_row[e] < 0 ? zero : src_image + src_row[e] * src_channels;
            };
            const auto run_tile = [&](int64_t tile, int64_t cb, const float* const* rows) {
                const int64_t mr = std::min(MR, pixels - tile * MR);
                const int64_t nr = std::min<int64_t>(NR, pw.columns - cb * NR);
                const int64_t* dst_row = pw.dst_index + cls.dst_index_offset + tile * MR;
                const igemm::UkernelFn kernel =
                    pw.rows_of_three && mr == MR && tile * MR / out_width == (tile * MR + MR - 1) / out_width
                        ? uk.row_of_three
                        : uk.fn;
                for (int64_t g = g0; g < g1; ++g) {
                    for (int64_t i = 0; i < mr; ++i)
                        c_rows[i] = dst_image + dst_row[i] * dst_channels + g * pw.columns + cb * NR;
                    const float* w_block =
                        deferred ? deferred_block : pw.weights + cls.weight_offset + (g * pw.column_blocks + cb) * block_size;
                    const float* bias_block = bias ? bias + g * pw.columns + cb * NR : nullptr;
                    // Where it pays (output_prefetch_pays), the next tile's destination lines are
                    // fetched while this one computes: a fresh output is in no cache, and its
                    // stores waited on reads for ownership (fcn_up_3x3, unet_up_2x2, batch8_up,
                    // the stem on channels-last memory: calls 7-13% faster on Zen 3, median of
                    // interleaved runs). Within the chunk only: the stage holds no more.
                    for (int64_t i = MR; prefetch && tile + 1 < chunk[2] && i < 2 * MR && tile * MR + i < pixels; ++i)
                        prefetch_lines_for_write(dst_image + dst_row[i] * dst_channels + g * pw.columns + cb * NR, nr);
                    kernel(mr, nr, pw.reduction, ks, rows, g * pw.call_channels, w_block, bias_block, c_rows);
                }
            };
            if (blocks_outer) {
                for (int64_t tile = chunk[1]; tile < chunk[2]; ++tile) fill_table(tile, a + (tile - chunk[1]) * table);
                for (int64_t cb = cb0; cb < cb1; ++cb)
                    for (int64_t tile = chunk[1]; tile < chunk[2]; ++tile) run_tile(tile, cb, a + (tile - chunk[1]) * table);
            } else {
                for (int64_t tile = chunk[1]; tile < chunk[2]; ++tile) {
                    fill_table(tile, a);
                    for (int64_t cb = cb0; cb < cb1; ++cb) run_tile(tile, cb, a);
                }
            }
            if (staged) {
                float* to = dst + n * dst_channels * dst_spatial + first_pixel;
                if (stream) {
                    stream_transpose_panel(stage, dst_channels, to, dst_spatial, chunk_pixels, dst_channels);
                    fence_streaming_stores();
                } else {
                    transpose_panel(stage, dst_channels, to, dst_spatial, chunk_pixels, dst_channels);
                }
            }
        }
    });
    if (dst_channels_first && !staged) transpose_images(dst_last, dst, p.batch, dst_spatial, dst_channels, true);
}

// x (either layout) -> the padded channels-last copy the width-merged form reads: rows of the
// copy outside the input are zeros, the rest the input's row between zeros in width.
void pad_channels_last(const ConvProblem& p, const PackedConv& pw, const float* x, float* padded) {
    const Dims& E = pw.src_dims;
    const int64_t C = p.in_channels, IW = p.in_size[2], X = p.in_spatial();
    const int64_t rows = E[0] * E[1];
    const int64_t left = p.pad_before[2];
    const int64_t copied = std::max<int64_t>(0, std::min(IW, E[2] - left));
    const bool last = p.layout == Layout::channels_last;
    parallel_for(p.batch * rows, [&](int64_t task) {
        const int64_t n = task / rows, id = task % rows / E[1] - p.pad_before[0], ih = task % E[1] - p.pad_before[1];
        float* to = padded + task * E[2] * C;
        if (id < 0 || id >= p.in_size[0] || ih < 0 || ih >= p.in_size[1]) {
            std::fill_n(to, E[2] * C, 0.0f);
            return;
        }
        const int64_t row = id * p.in_size[1] + ih;
        // The left padding can be wider than the copy (a stride that steps past the input):
        // then the row is all zeros (this once wrote past the row; found by fuzz_problem + ASan).
        const int64_t head = std::min(left, E[2]);
        std::fill_n(to, head * C, 0.0f);
        if (last)
            std::copy_n(x + (n * X + row * IW) * C, copied * C, to + head * C);
        else  // the row's C x copied block of channel planes, transposed
            transpose_panel(x + n * C * X + row * IW, X, to + head * C, C, C, copied);
        std::fill(to + (head + copied) * C, to + E[2] * C, 0.0f);
    });
}

// Channels-first x -> channels-last copy of the pixels a strided 1x1 layer reads (out_size large).
void gather_subsampled(const ConvProblem& p, const float* x, float* gathered) {
    const int64_t C = p.in_channels, X = p.in_spatial();
    const Dims &I = p.in_size, &O = p.out_size, &s = p.stride;
    const int64_t rows = O[0] * O[1];
    parallel_for(p.batch * rows, [&](int64_t task) {
        const int64_t n = task / rows, od = task % rows / O[1], oh = task % O[1];
        const float* from = x + n * C * X + (od * s[0] * I[1] + oh * s[1]) * I[2];
        float* to = gathered + task * O[2] * C;
        if (s[2] == 1) {
            transpose_panel(from, X, to, C, C, O[2]);
            return;
        }
        // The row's strided pixels, channel by channel into an L1-sized panel, then transposed.
        float* panel = scratch<float>(ScratchSlot::columns, C * O[2]);
        for (int64_t c = 0; c < C; ++c) copy_strided(from + c * X, s[2], O[2], panel + c * O[2]);
        transpose_panel(panel, O[2], to, C, C, O[2]);
    });
}

void run_packed_impl(const ConvProblem& p, const ConvArgs& args, const void* packed) {
    const PackedConv& pw = *static_cast<const PackedConv*>(packed);
    const float* src = static_cast<const float*>(args.src);
    const float* bias = static_cast<const float*>(args.bias);
    float* dst = static_cast<float*>(args.dst);
    if (pw.merged) {
        const Dims& E = pw.src_dims;
        float* padded = scratch<float>(ScratchSlot::layout_src, p.batch * E[0] * E[1] * E[2] * p.in_channels);
        pad_channels_last(p, pw, src, padded);
        run_channels_last(p, pw, padded, bias, dst, p.layout == Layout::channels_first);
        return;
    }
    if (p.layout == Layout::channels_last) {
        run_channels_last(p, pw, src, bias, dst, false);
        return;
    }
    if (pw.subsampled) {
        float* gathered = scratch<float>(ScratchSlot::layout_src, p.batch * p.out_spatial() * p.in_channels);
        gather_subsampled(p, src, gathered);
        run_channels_last(p, pw, gathered, bias, dst, true);
        return;
    }
    const bool forward = p.kind == ConvKind::forward;
    const int64_t src_channels = forward ? p.in_channels : p.out_channels;
    const int64_t src_spatial = forward ? p.in_spatial() : p.out_spatial();
    float* src_last = scratch<float>(ScratchSlot::layout_src, p.src_elements());
    transpose_images(src, src_last, p.batch, src_channels, src_spatial);
    run_channels_last(p, pw, src_last, bias, dst, true);
}

// The active ISA's widest tile, or the narrowest of the same ISA that still covers a group's
// columns when the wide one would leave most lanes of its column block empty; its group-bundle
// kernels for groups of 8 or 4 channels in and out.
const igemm::Ukernel& choose_ukernel(const ConvProblem& p) {
    if (const igemm::Ukernel* bundle = igemm::group_bundle_ukernel(p)) return *bundle;
    const igemm::Ukernel* chosen = &igemm::active_ukernel();
    const int64_t columns = p.kind == ConvKind::forward ? p.out_channels_per_group() : p.in_channels_per_group();
    for (const igemm::Ukernel& k : igemm::ukernels())
        if (k.isa == chosen->isa && k.groups_per_call == 1 && k.nr < chosen->nr && columns <= k.nr) chosen = &k;
    return *chosen;
}

std::shared_ptr<const void> pack_impl(const ConvProblem& p, const void* weight) {
    return pack_with(choose_ukernel(p), p, static_cast<const float*>(weight), false);
}

// A functional call packs each block inside the task that uses it when the weights outweigh the
// activations (small images, many channels) and there are enough blocks to keep every thread busy;
// otherwise it packs everything first, so tasks can split the pixels of one block.
void run_impl(const ConvProblem& p, const ConvArgs& args) {
    const igemm::Ukernel& ukernel = choose_ukernel(p);
    const int64_t blocks = p.groups / ukernel.groups_per_call * ceil_div(call_columns(ukernel, p), ukernel.nr);
    const bool defer = p.weight_elements() > p.src_elements() + p.dst_elements() &&
                       blocks >= 2 * ThreadPool::instance().num_threads();
    run_packed_impl(p, args, pack_with(ukernel, p, static_cast<const float*>(args.weight), true, defer).get());
}

std::string declines_igemm(const ConvProblem& p) {
    if (p.dtype != DType::f32) return "float32 only (float64 runs on the im2col GEMM)";
    if (igemm::active_ukernel().mr > 16) return "microkernel tile taller than 16 rows";
    const int64_t columns = p.kind == ConvKind::forward ? p.out_channels_per_group() : p.in_channels_per_group();
    if (columns < 4) return "fewer than 4 output channels per group would leave most vector lanes idle";
    return {};
}

}  // namespace

const ConvImpl igemm_impl{"igemm", Algo::direct, declines_igemm, run_impl, pack_impl, run_packed_impl};

namespace igemm {
bool takes_group_bundles(const Ukernel& ukernel, const ConvProblem& p) {
    const int64_t channels = ukernel.nr / ukernel.groups_per_call;
    return p.kind == ConvKind::forward && p.groups % ukernel.groups_per_call == 0 &&
           p.in_channels_per_group() == channels && p.out_channels_per_group() == channels;
}

const Ukernel* group_bundle_ukernel(const ConvProblem& p) {
    for (const Ukernel& k : ukernels())
        if (k.isa == active_ukernel().isa && k.groups_per_call > 1 && takes_group_bundles(k, p)) return &k;
    return nullptr;
}

// Runs one problem with an explicit microkernel, so tests can check every compiled ISA variant.
void run_with(const Ukernel& ukernel, const ConvProblem& p, const ConvArgs& args) {
    run_packed_impl(p, args, pack_with(ukernel, p, static_cast<const float*>(args.weight), false).get());
}
}  // namespace igemm

}  // namespace fastconv
