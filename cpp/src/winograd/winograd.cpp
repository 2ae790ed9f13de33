// The portable part of Winograd convolution (see winograd.hpp): the transform kernel lists, the
// filter transform, and the tile loop around the per-ISA tile transforms and the packed GEMM.
//
// Work is split into blocks of tiles (flattened over images and tile rows). A block's transformed
// input V (alpha^2 x tiles x C) and GEMM result M (alpha^2 x tiles x K) live in per-thread scratch
// sized for L2, so the three phases (input transform, alpha^2 GEMMs, output transform) of a block
// reuse cached data. Every output element is computed by one task with a fixed sum order: the
// transforms per tile are fixed, and a GEMM row's bits depend only on its own row, not on how many
// rows the block has (gemm.cpp), so the result does not depend on the thread count.
#include "winograd/winograd.hpp"

#include <algorithm>
#include <vector>

#include "gemm/gemm.hpp"
#include "kernels/gemm_ukernels.hpp"
#include "layout.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/workspace.hpp"

namespace fastconv::winograd {
namespace {

static_assert(gemm::kF32Avx512Mr <= kMaxGemmRows && gemm::kF64Avx512Mr <= kMaxGemmRows &&
                  gemm::kF32Avx2Mr <= kMaxGemmRows && gemm::kF64Avx2Mr <= kMaxGemmRows &&
                  gemm::kF32ScalarMr <= kMaxGemmRows && gemm::kF64ScalarMr <= kMaxGemmRows,
              "the packed input transform stages at most kMaxGemmRows tiles");

template <typename T>
std::vector<Ukernel<T>> make_ukernel_list();

template <>
std::vector<Ukernel<float>> make_ukernel_list<float>() {
    return {
#if defined(FASTCONV_X86_KERNELS)
        {"f32_winograd_4x4_3x3__avx512f", Isa::avx512, 4, f32_winograd_filter_4x4_3x3__avx512f,
         f32_winograd_input_4x4_3x3__avx512f,
         f32_winograd_output_4x4_3x3__avx512f},
        {"f32_winograd_2x2_3x3__avx512f", Isa::avx512, 2, f32_winograd_filter_2x2_3x3__avx512f,
         f32_winograd_input_2x2_3x3__avx512f,
         f32_winograd_output_2x2_3x3__avx512f},
        {"f32_winograd_4x4_3x3__avx2_fma", Isa::avx2, 4, f32_winograd_filter_4x4_3x3__avx2_fma,
         f32_winograd_input_4x4_3x3__avx2_fma,
         f32_winograd_output_4x4_3x3__avx2_fma},
        {"f32_winograd_2x2_3x3__avx2_fma", Isa::avx2, 2, f32_winograd_filter_2x2_3x3__avx2_fma,
         f32_winograd_input_2x2_3x3__avx2_fma,
         f32_winograd_output_2x2_3x3__avx2_fma},
#endif
        {"f32_winograd_4x4_3x3__scalar", Isa::scalar, 4, f32_winograd_filter_4x4_3x3__scalar,
         f32_winograd_input_4x4_3x3__scalar,
         f32_winograd_output_4x4_3x3__scalar},
        {"f32_winograd_2x2_3x3__scalar", Isa::scalar, 2, f32_winograd_filter_2x2_3x3__scalar,
         f32_winograd_input_2x2_3x3__scalar,
         f32_winograd_output_2x2_3x3__scalar},
    };
}

template <>
std::vector<Ukernel<double>> make_ukernel_list<double>() {
    return {
#if defined(FASTCONV_X86_KERNELS)
        {"f64_winograd_4x4_3x3__avx512f", Isa::avx512, 4, f64_winograd_filter_4x4_3x3__avx512f,
         f64_winograd_input_4x4_3x3__avx512f,
         f64_winograd_output_4x4_3x3__avx512f},
        {"f64_winograd_2x2_3x3__avx512f", Isa::avx512, 2, f64_winograd_filter_2x2_3x3__avx512f,
         f64_winograd_input_2x2_3x3__avx512f,
         f64_winograd_output_2x2_3x3__avx512f},
        {"f64_winograd_4x4_3x3__avx2_fma", Isa::avx2, 4, f64_winograd_filter_4x4_3x3__avx2_fma,
         f64_winograd_input_4x4_3x3__avx2_fma,
         f64_winograd_output_4x4_3x3__avx2_fma},
        {"f64_winograd_2x2_3x3__avx2_fma", Isa::avx2, 2, f64_winograd_filter_2x2_3x3__avx2_fma,
         f64_winograd_input_2x2_3x3__avx2_fma,
         f64_winograd_output_2x2_3x3__avx2_fma},
#endif
        {"f64_winograd_4x4_3x3__scalar", Isa::scalar, 4, f64_winograd_filter_4x4_3x3__scalar,
         f64_winograd_input_4x4_3x3__scalar,
         f64_winograd_output_4x4_3x3__scalar},
        {"f64_winograd_2x2_3x3__scalar", Isa::scalar, 2, f64_winograd_filter_2x2_3x3__scalar,
         f64_winograd_input_2x2_3x3__scalar,
         f64_winograd_output_2x2_3x3__scalar},
    };
}

// Tiles per block. Each block streams all of U (alpha^2 C K / groups values) through the GEMMs, so
// a block should have at least as many tiles as make its V and M weigh as much as U; past that,
// V and M within about 2 MiB, so that the block's three phases meet their data in L2 (within one
// position xi the GEMM touches only 1/alpha^2 of it); at least 4 GEMM row tiles, at most 512.
// Fewer when that would leave a pool thread without a block (a batch-1 resnet_3x3_28 is 49 tiles);
// then the tiles are spread evenly over the blocks (a last block of a few tiles would stream all
// of U for them: 4 images of 7x7 x 512 channels ran 2x slower), in whole GEMM row tiles. The block
// size never changes a result's bits (gemm.cpp: a row's bits do not depend on the other rows).
template <typename T>
int64_t tiles_per_block(const ConvProblem& p, int m, int64_t padded_k, int64_t total_tiles) {
    const int64_t alpha2 = (m + 2) * (m + 2);
    const int64_t bytes_per_tile = alpha2 * (p.in_channels + padded_k) * static_cast<int64_t>(sizeof(T));
    const int64_t mr = gemm::active_ukernel<T>().mr;
    const int64_t cache_tiles = (int64_t(2) << 20) / bytes_per_tile;
    const int64_t filter_tiles = p.in_channels * padded_k / p.groups / (p.in_channels + padded_k);
    int64_t tiles = std::clamp<int64_t>(std::max(cache_tiles, filter_tiles), 4 * mr, 512);
    tiles = std::max<int64_t>(1, std::min(tiles, (total_tiles + get_num_threads() - 1) / get_num_threads()));
    const int64_t blocks = (total_tiles + tiles - 1) / tiles;
    tiles = (total_tiles + blocks - 1) / std::max<int64_t>(1, blocks);
    return std::max<int64_t>(1, (tiles + mr - 1) / mr) * mr;
}

// The distance between the alpha^2 positions' matrices in U, V and M: their sizes are often
// multiples of 4 KiB, and 36 streams that far apart would all fall into the same L1 sets (the
// transforms touch all positions of a tile at once), so each is padded by one cache line.
template <typename T>
int64_t position_stride(int64_t elements) {
    return elements + 64 / static_cast<int64_t>(sizeof(T));
}

// NR-wide column slivers per group of the GEMMs' right-hand side (U) and result (M).
template <typename T>
int64_t slivers_per_group(const ConvProblem& p) {
    const int64_t nr = gemm::active_ukernel<T>().nr;
    return (p.out_channels_per_group() + nr - 1) / nr;
}

}  // namespace

template <typename T>
const std::vector<Ukernel<T>>& ukernels() {
    static const std::vector<Ukernel<T>> list = make_ukernel_list<T>();
    return list;
}

template <typename T>
const Ukernel<T>& active_ukernel(int m) {
    static const auto pick = [](int tile) -> const Ukernel<T>& {
        // Found at the latest at the end of the list: the scalar kernels run under any limit.
        return *std::find_if(ukernels<T>().begin(), ukernels<T>().end(),
                             [tile](const Ukernel<T>& k) { return k.m == tile && k.isa <= active_isa(); });
    };
    static const Ukernel<T>& f4 = pick(4);
    static const Ukernel<T>& f2 = pick(2);
    return m == 4 ? f4 : f2;
}

int64_t tiles_per_image(const ConvProblem& p, int m) {
    const int64_t dh = p.dilation[1], dw = p.dilation[2];
    const int64_t phase_rows = (p.out_size[1] + dh - 1) / dh, phase_cols = (p.out_size[2] + dw - 1) / dw;
    return p.out_size[0] * dh * dw * ((phase_rows + m - 1) / m) * ((phase_cols + m - 1) / m);
}

int64_t gemm_products(const ConvProblem& p, int m) {
    const int64_t mr = p.dtype == DType::f32 ? gemm::active_ukernel<float>().mr : gemm::active_ukernel<double>().mr;
    return (p.batch * tiles_per_image(p, m) + mr - 1) / mr * mr * (m + 2) * (m + 2);
}

bool prefers_2x2(const ConvProblem& p) { return gemm_products(p, 2) * 4 <= gemm_products(p, 4) * 5; }

template <typename T>
int64_t filter_elements(const ConvProblem& p, int m) {
    return p.groups * (m + 2) * (m + 2) *
           position_stride<T>(p.kernel[0] * p.in_channels_per_group() * slivers_per_group<T>(p) *
                              gemm::active_ukernel<T>().nr);
}

namespace {

// The filters of group g's output-channel sliver j (NR wide) for input channels [c_begin, c_end),
// every depth tap kd (3-D: (KD, 3, 3) kernels; 2-D: KD = 1), transformed and packed as the GEMM's
// right-hand operand: channel c's NR columns of depth tap kd and position xi go to
// out + xi * xi_stride + kd * kd_stride + (c - c_begin) * NR; columns past K/groups are zero. The
// kernel reads each tap's output channels as a contiguous vector, so the sliver's filters are
// first transposed from their (K, C/groups, KD, 3, 3) rows into a tile laid out
// [channel][depth tap][tap][column], up to 64 KB of channels at a time: each filter's taps for
// those channels are one contiguous run, read in long pieces (8 channels at a time, element by
// element, the reads waited on memory: 45% of resnet_3x3_7's Winograd call on Zen 3).
// (Transposing all the weights first, through memory, took as long as the transform itself on
// resnet_3x3_14.) Tap-major weights need no tile: each channel's taps of the sliver are rows.
template <typename T>
void transform_sliver(const Ukernel<T>& ukernel, const ConvProblem& p, const T* weight, FilterLayout layout,
                      int64_t g, int64_t j, int64_t c_begin, int64_t c_end, T* out, int64_t xi_stride,
                      int64_t kd_stride) {
    const int64_t alpha2 = (ukernel.m + 2) * (ukernel.m + 2);
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group(), KD = p.kernel[0];
    const int64_t nr = gemm::active_ukernel<T>().nr, count = std::min(nr, Kg - j * nr);
    const auto zero_tail = [&](T* to) {
        if (count < nr)
            for (int64_t xi = 0; xi < alpha2; ++xi) std::fill_n(to + xi * xi_stride + count, nr - count, T(0));
    };
    if (layout == FilterLayout::tap_major) {
        for (int64_t c = c_begin; c < c_end; ++c) {
            T* to = out + (c - c_begin) * nr;
            ukernel.filter(count, weight + c * 9 * Kg + j * nr, Kg, to, xi_stride);
            zero_tail(to);
        }
        return;
    }
    const int64_t per_channel = KD * 9;  // a filter's values per input channel
    const T* filters = weight + (g * Kg + j * nr) * Cg * per_channel;
    const int64_t chunk =
        std::max<int64_t>(1, (int64_t{64} << 10) / (per_channel * nr * static_cast<int64_t>(sizeof(T))));
    T* tile = scratch<T>(ScratchSlot::pack_tile, std::min(chunk, c_end - c_begin) * per_channel * nr);
    for (int64_t c0 = c_begin; c0 < c_end; c0 += chunk) {
        const int64_t channels = std::min(c_end, c0 + chunk) - c0;
        transpose_panel(filters + c0 * per_channel, Cg * per_channel, tile, nr, count, channels * per_channel);
        for (int64_t c = c0; c < c0 + channels; ++c)
            for (int64_t kd = 0; kd < KD; ++kd) {
                T* to = out + kd * kd_stride + (c - c_begin) * nr;
                ukernel.filter(count, tile + ((c - c0) * KD + kd) * 9 * nr, nr, to, xi_stride);
                zero_tail(to);
            }
    }
}

}  // namespace

// One task per (group, sliver) writes its packed sliver in order.
template <typename T>
void transform_filter(const Ukernel<T>& ukernel, const ConvProblem& p, const T* weight, T* u, FilterLayout layout) {
    const int64_t alpha2 = (ukernel.m + 2) * (ukernel.m + 2);
    const int64_t Cg = p.in_channels_per_group(), nr = gemm::active_ukernel<T>().nr, KD = p.kernel[0];
    const int64_t slivers = slivers_per_group<T>(p);
    const int64_t xi_stride = position_stride<T>(slivers * KD * Cg * nr);
    parallel_for(p.groups * slivers, [&](int64_t task) {
        const int64_t g = task / slivers, j = task % slivers;
        transform_sliver(ukernel, p, weight, layout, g, j, 0, Cg, u + g * alpha2 * xi_stride + j * KD * Cg * nr,
                         xi_stride, Cg * nr);
    });
}

namespace {

// What one call's tile loop needs, computed once.
template <typename T>
struct TileLoop {
    TileLoop(const Ukernel<T>& transforms, const ConvProblem& problem, const T* filters, const T* bias_values,
             const SubPixelOutput* sub_pixel = nullptr)
        : ukernel(transforms), gk(gemm::active_ukernel<T>()), p(problem), u(filters), bias(bias_values),
          scatter(sub_pixel) {}

    const Ukernel<T>& ukernel;
    const gemm::Ukernel<T>& gk;
    const ConvProblem& p;
    const T* u;
    const T* bias;
    const SubPixelOutput* scatter;
    const int m = ukernel.m, alpha = m + 2, alpha2 = alpha * alpha;
    const int64_t mr = gk.mr, nr = gk.nr, kc_max = gemm::blocking_for(gk.mr, gk.nr, sizeof(T)).kc;
    const int64_t C = p.in_channels, K = p.out_channels;
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group();
    const int64_t slivers = slivers_per_group<T>(p), padded_k = p.groups * slivers * nr;
    const int64_t IH = p.in_size[1], IW = p.in_size[2], OH = p.out_size[1], OW = p.out_size[2];
    const int64_t top = p.pad_before[1], left = p.pad_before[2];
    // 3-D: the (KD, 3, 3) kernel is KD depth taps of 3x3 Winograd (run_depth_sweep). 2-D problems
    // have ID = OD = KD = 1.
    const int64_t ID = p.in_size[0], OD = p.out_size[0], KD = p.kernel[0];
    const int64_t front = p.pad_before[0], dd = p.dilation[0];
    // Dilation: the output rows (columns) of one residue modulo the dilation read only input rows
    // (columns) of one residue, dh (dw) apart, so each of the dh x dw phases is an undilated
    // convolution of its own sub-grids, tiled on its own. Tiles and taps step by the dilation in
    // memory; nothing is copied. Every phase is tiled as the largest one; tiles past a smaller
    // phase's end write nothing.
    const int64_t dh = p.dilation[1], dw = p.dilation[2];
    const int64_t tiles_w = ((OW + dw - 1) / dw + m - 1) / m, tiles_h = ((OH + dh - 1) / dh + m - 1) / m;
    const int64_t per_phase = tiles_w * tiles_h, per_slice = dh * dw * per_phase, per_image = OD * per_slice;
    const int64_t u_stride = position_stride<T>(slivers * KD * Cg * nr);

    // Image, output depth and first output pixel of a tile numbered over (image, output depth,
    // phase, tile row, tile column).
    struct Origin {
        int64_t n, od, oh, ow;
    };
    Origin origin(int64_t tile) const {
        const int64_t n = tile / per_image, od = tile % per_image / per_slice;
        const int64_t phase = tile % per_slice / per_phase, t = tile % per_phase;
        return {n, od, phase / dw + dh * (t / tiles_w * m), phase % dw + dw * (t % tiles_w * m)};
    }
};

// Where a block's pixels are, channels-last: input pixel (n, id, ih, iw) at
// x + n * x_image + ((id * IH + ih - x_row0) * IW + iw) * C, output pixel (n, od, oh, ow) at
// y + n * y_image + ((od * OH + oh - y_row0) * OW + ow) * K (the whole tensors, or one band's
// copies: 2-D only, id = od = 0).
template <typename T>
struct BlockMemory {
    const T* x;
    int64_t x_image, x_row0;
    T* y;
    int64_t y_image, y_row0;
};

// The whole channels-last tensors of a call, y laid out as l.scatter says where given.
template <typename T>
BlockMemory<T> whole_tensors(const TileLoop<T>& l, const T* x, T* y) {
    const SubPixelOutput* s = l.scatter;
    return {x, l.ID * l.IH * l.IW * l.C, 0, y, s ? s->height * s->width * s->channels : l.OD * l.OH * l.OW * l.K, 0};
}

// The three phases over tiles [first, first + count) (numbered over images, dilation phases, tile
// rows, tile columns) of a 2-D problem. The input transform writes V in packed-A order,
// [xi][row sliver][C][MR]; each GEMM
// product M[xi] = V[xi] U[xi] of a group runs the microkernel directly on the packed operands (no
// repacking: U was packed by transform_filter, V by the input transform), depth blocked like
// gemm.cpp so a B sliver stays in L1; M is [xi][tile][groups * slivers * NR] and the output
// transform reads each group's K/groups columns of it.

// Input transform of row sliver s (MR tiles) of the tiles [first, first + count), read from input
// depth slice id (0 in 2-D), into packed MR-row sliver s of v.
template <typename T>
void input_sliver(const TileLoop<T>& l, int64_t first, int64_t count, int64_t s, int64_t id, T* v, int64_t v_stride,
                  const T* zero, const BlockMemory<T>& mem) {
    const T* d[kMaxGemmRows * 36];
    const int64_t tiles = std::min(l.mr, count - s * l.mr);
    for (int64_t i = 0; i < tiles; ++i) {
        const auto o = l.origin(first + s * l.mr + i);
        for (int r = 0; r < l.alpha; ++r) {
            const int64_t ih = o.oh - l.top + l.dh * r;
            const bool row_inside = ih >= 0 && ih < l.IH;
            const T* row = row_inside ? mem.x + o.n * mem.x_image + (id * l.IH + ih - mem.x_row0) * l.IW * l.C : zero;
            for (int q = 0; q < l.alpha; ++q) {
                const int64_t iw = o.ow - l.left + l.dw * q;
                d[(i * l.alpha + r) * l.alpha + q] = row_inside && iw >= 0 && iw < l.IW ? row + iw * l.C : zero;
            }
        }
    }
    l.ukernel.input(l.C, tiles, static_cast<int>(l.mr), d, v + s * l.C * l.mr, v_stride);
}

// The products of group g, position xi and output-channel slivers [j0, j1) for every row sliver.
// Each element gets its depth blocks in order, each one microkernel call, however the work is cut.
template <typename T>
void gemm_part(const TileLoop<T>& l, int64_t used_slivers, int64_t g, int xi, int64_t j0, int64_t j1, const T* v,
               int64_t v_stride, T* mm, int64_t m_stride) {
    const T* a = v + xi * v_stride + g * l.Cg * l.mr;
    const T* b = l.u + (g * l.alpha2 + xi) * l.u_stride;
    T* c = mm + xi * m_stride + g * l.slivers * l.nr;
    for (int64_t pc = 0; pc < l.Cg; pc += l.kc_max) {
        const int64_t kc = std::min(l.kc_max, l.Cg - pc);
        for (int64_t j = j0; j < j1; ++j)
            for (int64_t s = 0; s < used_slivers; ++s)
                l.gk.fn(kc, a + (s * l.C + pc) * l.mr, l.mr, b + (j * l.Cg + pc) * l.nr,
                        c + s * l.mr * l.padded_k + j * l.nr, l.padded_k, pc > 0);
    }
}

// Output transform of a sub-pixel tile (see SubPixelOutput): one call per channel block, each
// writing its pixels every stride rows and columns of the image, starting at its residue.
template <typename T>
void output_sub_pixel_tile(const TileLoop<T>& l, const typename TileLoop<T>::Origin& o, const T* m, int64_t m_stride,
                           const BlockMemory<T>& mem) {
    const SubPixelOutput& s = *l.scatter;
    T* image = mem.y + o.n * mem.y_image;
    for (int64_t ry = 0; ry < s.stride_h; ++ry)
        for (int64_t rx = 0; rx < s.stride_w; ++rx) {
            // This block's pixels in the image's rows (columns) of residue ry (rx), from tile row o.oh on.
            const int64_t rows = std::min<int64_t>(l.m, (s.height - ry + s.stride_h - 1) / s.stride_h - o.oh);
            const int64_t cols = std::min<int64_t>(l.m, (s.width - rx + s.stride_w - 1) / s.stride_w - o.ow);
            if (rows <= 0 || cols <= 0) continue;
            T* y = image + ((s.stride_h * o.oh + ry) * s.width + s.stride_w * o.ow + rx) * s.channels;
            l.ukernel.output(s.channels, m + (ry * s.stride_w + rx) * s.channels, m_stride, l.bias, y,
                             s.stride_h * s.width * s.channels, s.stride_w * s.channels, rows, cols);
        }
}

// Output transform of tile first + i.
template <typename T>
void output_tile(const TileLoop<T>& l, int64_t first, int64_t i, const T* mm, int64_t m_stride,
                 const BlockMemory<T>& mem) {
    const auto o = l.origin(first + i);
    if (l.scatter) {
        output_sub_pixel_tile(l, o, mm + i * l.padded_k, m_stride, mem);
        return;
    }
    // Pixels of the tile inside the output, counted along its phase's sub-grid.
    const int64_t rows = std::min<int64_t>(l.m, (l.OH - o.oh + l.dh - 1) / l.dh);
    const int64_t cols = std::min<int64_t>(l.m, (l.OW - o.ow + l.dw - 1) / l.dw);
    if (rows <= 0 || cols <= 0) return;
    T* y = mem.y + o.n * mem.y_image + ((o.od * l.OH + o.oh - mem.y_row0) * l.OW + o.ow) * l.K;
    for (int64_t g = 0; g < l.p.groups; ++g)
        l.ukernel.output(l.Kg, mm + i * l.padded_k + g * l.slivers * l.nr, m_stride,
                         l.bias ? l.bias + g * l.Kg : nullptr, y + g * l.Kg, l.dh * l.OW * l.K, l.dw * l.K, rows,
                         cols);
}

// V and M for a block of `block` tiles, in this thread's scratch: V, then a row of zeros that
// padding taps point at.
template <typename T>
struct BlockScratch {
    BlockScratch(const TileLoop<T>& l, int64_t block)
        : v_stride(position_stride<T>(block * l.C)), m_stride(position_stride<T>(block * l.padded_k)),
          v(scratch<T>(ScratchSlot::columns, l.alpha2 * v_stride + l.C)), zero(v + l.alpha2 * v_stride),
          mm(scratch<T>(ScratchSlot::accumulators, l.alpha2 * m_stride)) {
        std::fill_n(zero, l.C, T(0));
    }
    const int64_t v_stride, m_stride;
    T* const v;
    T* const zero;
    T* const mm;
};

// One block of count <= block tiles, all three phases on this thread, V and M in its scratch.
template <typename T>
void run_block(const TileLoop<T>& l, int64_t block, int64_t first, int64_t count, const BlockMemory<T>& mem) {
    const BlockScratch<T> b(l, block);
    const int64_t used_slivers = (count + l.mr - 1) / l.mr;
    for (int64_t s = 0; s < used_slivers; ++s) input_sliver(l, first, count, s, 0, b.v, b.v_stride, b.zero, mem);
    for (int64_t g = 0; g < l.p.groups; ++g)
        for (int xi = 0; xi < l.alpha2; ++xi)
            gemm_part(l, used_slivers, g, xi, 0, l.slivers, b.v, b.v_stride, b.mm, b.m_stride);
    for (int64_t i = 0; i < count; ++i) output_tile(l, first, i, b.mm, b.m_stride, mem);
}

// All `count` tiles as one block whose phases are each spread over the pool: for layers with so
// few tiles (resnet_3x3_14 at batch 1: 16) that blocks of tiles would leave threads idle or
// unevenly loaded, each streaming all of U. The GEMM phase splits over (group, position,
// output-channel slivers) instead. V and M live in the calling thread's scratch; the tasks take
// none. Same arithmetic per element as run_block, so the same bits.
template <typename T>
void run_phased(const TileLoop<T>& l, int64_t count, const BlockMemory<T>& mem) {
    const int64_t used_slivers = (count + l.mr - 1) / l.mr;
    const BlockScratch<T> b(l, used_slivers * l.mr);
    parallel_for(used_slivers, [&](int64_t s) { input_sliver(l, 0, count, s, 0, b.v, b.v_stride, b.zero, mem); });
    constexpr int64_t kSliversPerTask = 2;
    const int64_t parts = (l.slivers + kSliversPerTask - 1) / kSliversPerTask;
    parallel_for(l.p.groups * l.alpha2 * parts, [&](int64_t task) {
        const int64_t j0 = task % parts * kSliversPerTask, xi = task / parts % l.alpha2, g = task / parts / l.alpha2;
        gemm_part(l, used_slivers, g, static_cast<int>(xi), j0, std::min(l.slivers, j0 + kSliversPerTask), b.v,
                  b.v_stride, b.mm, b.m_stride);
    });
    parallel_for(count, [&](int64_t i) { output_tile(l, 0, i, b.mm, b.m_stride, mem); });
}

// 3-D problems, (KD, 3, 3) kernels: output depth od sums KD 2-D Winograd products, depth tap kd
// reading input slice od - front + dd kd. Each task takes one image and a range of row slivers of
// the 2-D tiles (the same range in every slice) and sweeps the output depth: the input transform
// of a slice is made once and kept in a ring while the KD output depths that read it pass (made
// per output depth and tap, the input transforms took 38% of conv3d_video's time on Zen 3, 1.5x
// its GEMMs), and each output slice's M gets, per element, its channel blocks in order and within
// each its depth taps in order, skipping taps that read depth padding. The range keeps the ring
// and M within about 1 MiB.
template <typename T>
void run_depth_sweep(const TileLoop<T>& l, const BlockMemory<T>& mem) {
    const ConvProblem& p = l.p;
    const int64_t slice_slivers = (l.per_slice + l.mr - 1) / l.mr;
    // The ring holds every slice one output depth's taps span, unless a large depth dilation makes
    // that span many slices: then one slot per tap, remade for each output depth (a tap's slice
    // moves on with the depth, so the slot never holds the next one).
    const int64_t span = (l.KD - 1) * l.dd + 1;
    const bool reuse = span <= 4 * l.KD;
    const int64_t slots = reuse ? span : l.KD;
    const int64_t row_bytes = l.alpha2 * (slots * l.C + l.padded_k) * static_cast<int64_t>(sizeof(T));
    int64_t range = std::max<int64_t>(1, (int64_t(1) << 20) / (row_bytes * l.mr));
    range = std::min(range, std::max<int64_t>(1, p.batch * slice_slivers / (2 * get_num_threads())));
    const int64_t ranges = (slice_slivers + range - 1) / range;
    parallel_for(p.batch * ranges, [&](int64_t task) {
        const int64_t n = task / ranges, s0 = task % ranges * range, s1 = std::min(slice_slivers, s0 + range);
        const int64_t rows = (s1 - s0) * l.mr, tiles = std::min(rows, l.per_slice - s0 * l.mr);
        const int64_t v_stride = position_stride<T>(rows * l.C), m_stride = position_stride<T>(rows * l.padded_k);
        T* ring = scratch<T>(ScratchSlot::columns, slots * l.alpha2 * v_stride + l.C);
        T* zero = ring + slots * l.alpha2 * v_stride;
        std::fill_n(zero, l.C, T(0));
        T* mm = scratch<T>(ScratchSlot::accumulators, l.alpha2 * m_stride);
        std::vector<int64_t> held(static_cast<size_t>(slots), -1);  // the input slice each slot holds
        std::vector<int64_t> slot_of(static_cast<size_t>(l.KD));  // each tap's slot, -1: depth padding
        for (int64_t od = 0; od < l.OD; ++od) {
            const int64_t first = (n * l.OD + od) * l.per_slice + s0 * l.mr;  // this range's first tile
            int64_t first_tap = -1;
            for (int64_t kd = 0; kd < l.KD; ++kd) {
                const int64_t id = od - l.front + l.dd * kd;
                slot_of[static_cast<size_t>(kd)] = -1;
                if (id < 0 || id >= l.ID) continue;
                if (first_tap < 0) first_tap = kd;
                const int64_t slot = reuse ? id % span : kd;
                slot_of[static_cast<size_t>(kd)] = slot;
                if (held[static_cast<size_t>(slot)] == id) continue;
                T* v = ring + slot * l.alpha2 * v_stride;
                for (int64_t s = 0; s < s1 - s0; ++s) input_sliver(l, first, tiles, s, id, v, v_stride, zero, mem);
                held[static_cast<size_t>(slot)] = id;
            }
            if (first_tap < 0) {  // every tap reads depth padding: the output is the bias
                for (int xi = 0; xi < l.alpha2; ++xi) std::fill_n(mm + xi * m_stride, rows * l.padded_k, T(0));
            }
            for (int64_t g = 0; g < p.groups && first_tap >= 0; ++g)
                for (int xi = 0; xi < l.alpha2; ++xi)
                    for (int64_t pc = 0; pc < l.Cg; pc += l.kc_max) {
                        const int64_t kc = std::min(l.kc_max, l.Cg - pc);
                        for (int64_t kd = first_tap; kd < l.KD; ++kd) {
                            const int64_t slot = slot_of[static_cast<size_t>(kd)];
                            if (slot < 0) continue;
                            const T* a = ring + (slot * l.alpha2 + xi) * v_stride + (g * l.Cg + pc) * l.mr;
                            const T* b = l.u + (g * l.alpha2 + xi) * l.u_stride + (kd * l.Cg + pc) * l.nr;
                            T* c = mm + xi * m_stride + g * l.slivers * l.nr;
                            for (int64_t j = 0; j < l.slivers; ++j)
                                for (int64_t s = 0; s < s1 - s0; ++s)
                                    l.gk.fn(kc, a + s * l.C * l.mr, l.mr, b + j * l.KD * l.Cg * l.nr,
                                            c + s * l.mr * l.padded_k + j * l.nr, l.padded_k, pc > 0 || kd > first_tap);
                        }
                    }
            for (int64_t i = 0; i < tiles; ++i) output_tile(l, first, i, mm, m_stride, mem);
        }
    });
}

// Whether the tiles split into too few blocks to keep the pool evenly busy (see run_phased): fewer
// than two blocks per thread, and fewer than four row slivers per thread, so that whole blocks
// would leave a thread idle for a large share of the call. With four or more slivers per thread
// one block per thread balances well enough, and keeps each thread's V and M in its own cache:
// the phases hand V and M from core to core, which on the 2-core Sapphire Rapids-class VM made
// resnet_3x3_56 channels-last at 2 threads 0.59 ms against 0.40 in blocks (14 slivers; medians).
inline bool runs_phased(int64_t total, int64_t block, int64_t mr) {
    const int64_t threads = get_num_threads();
    return threads > 1 && (total + block - 1) / block < 2 * threads && (total + mr - 1) / mr < 4 * threads;
}

}  // namespace

template <typename T>
void run_channels_last(const Ukernel<T>& ukernel, const ConvProblem& p, const T* u, const T* x, const T* bias, T* y,
                       const SubPixelOutput* scatter) {
    const TileLoop<T> l(ukernel, p, u, bias, scatter);
    const int64_t total = p.batch * l.per_image, block = tiles_per_block<T>(p, l.m, l.padded_k, total);
    const BlockMemory<T> mem = whole_tensors(l, x, y);
    if (l.KD > 1 || l.ID > 1 || l.OD > 1) {
        run_depth_sweep(l, mem);
        return;
    }
    if (runs_phased(total, block, l.mr)) {
        run_phased(l, total, mem);
        return;
    }
    parallel_for((total + block - 1) / block, [&](int64_t task) {
        run_block(l, block, task * block, std::min(block, total - task * block), mem);
    });
}

namespace {

// Functional calls on layers whose transformed filters outweigh the activations: all tiles in one
// block, and per (group, sliver) task, channel chunk by channel chunk, the chunk's filters are
// transformed into this thread's scratch and at once multiplied into M. U never exists whole, so
// its values are written and read in L2 instead of making a round trip through L3 or memory
// (resnet_3x3_14 at batch 1: 9.4 MB of U for 16 tiles). The microkernel starts each element's
// chain from C and adds the terms in depth order, so chunking the depth leaves the bits of the
// plan's path, where U is whole.
template <typename T>
void run_fused_filter_channels_last(const Ukernel<T>& ukernel, const ConvProblem& p, const T* weight,
                                    FilterLayout layout, const T* x, const T* bias, T* y,
                                    const SubPixelOutput* scatter) {
    const TileLoop<T> l(ukernel, p, nullptr, bias, scatter);
    const BlockMemory<T> mem = whole_tensors(l, x, y);
    const int64_t count = p.batch * l.per_image, used_slivers = (count + l.mr - 1) / l.mr;
    const BlockScratch<T> b(l, used_slivers * l.mr);
    parallel_for(used_slivers, [&](int64_t s) { input_sliver(l, 0, count, s, 0, b.v, b.v_stride, b.zero, mem); });
    // Chunks as deep as gemm_part's depth blocks: shallower ones ran slower (more passes over M).
    const int64_t chunk = l.kc_max;
    const int64_t chunk_stride = position_stride<T>(chunk * l.nr);
    parallel_for(p.groups * l.slivers, [&](int64_t task) {
        const int64_t g = task / l.slivers, j = task % l.slivers;
        T* u = scratch<T>(ScratchSlot::packed_weights, l.alpha2 * chunk_stride);
        for (int64_t pc = 0; pc < l.Cg; pc += chunk) {
            const int64_t kc = std::min(chunk, l.Cg - pc);
            transform_sliver(ukernel, p, weight, layout, g, j, pc, pc + kc, u, chunk_stride, 0);
            for (int xi = 0; xi < l.alpha2; ++xi)
                for (int64_t s = 0; s < used_slivers; ++s)
                    l.gk.fn(kc, b.v + xi * b.v_stride + (s * l.C + g * l.Cg + pc) * l.mr, l.mr, u + xi * chunk_stride,
                            b.mm + xi * b.m_stride + s * l.mr * l.padded_k + (g * l.slivers + j) * l.nr, l.padded_k,
                            pc > 0);
        }
    });
    parallel_for(count, [&](int64_t i) { output_tile(l, 0, i, b.mm, b.m_stride, mem); });
}

}  // namespace

template <typename T>
bool fuses_filter_transform(const ConvProblem& p, int m) {
    const int64_t alpha2 = (m + 2) * (m + 2), mr = gemm::active_ukernel<T>().mr;
    const int64_t rows = (p.batch * tiles_per_image(p, m) + mr - 1) / mr * mr;
    const int64_t padded_k = p.groups * slivers_per_group<T>(p) * gemm::active_ukernel<T>().nr;
    const int64_t block = alpha2 * rows * (p.in_channels + padded_k);  // V and M
    // 3-D problems sweep the depth with a whole U (run_depth_sweep).
    const bool flat = p.kernel[0] == 1 && p.in_size[0] == 1 && p.out_size[0] == 1;
    return flat && filter_elements<T>(p, m) >= block && block * static_cast<int64_t>(sizeof(T)) <= (int64_t(8) << 20);
}

template <typename T>
void run_fused_filter(const Ukernel<T>& ukernel, const ConvProblem& p, const T* weight, const T* x, const T* bias,
                      T* y, const SubPixelOutput* scatter, FilterLayout layout) {
    if (p.layout == Layout::channels_last) {
        run_fused_filter_channels_last(ukernel, p, weight, layout, x, bias, y, scatter);
        return;
    }
    through_transposed_copies(x, y, p.batch, p.in_channels, p.in_spatial(), p.out_spatial(), p.out_channels,
                              [&](const T* x_last, T* y_last) {
                                  run_fused_filter_channels_last(ukernel, p, weight, layout, x_last, bias, y_last,
                                                                 nullptr);
                              });
}

// Channels-first memory, one band of whole tile rows of one image per task: the band's input rows
// are turned channels-last into per-thread scratch, its output rows come back from scratch, so the
// layout change happens in cache instead of as two extra passes over both tensors in memory.
template <typename T>
void run_channels_first(const Ukernel<T>& ukernel, const ConvProblem& p, const T* u, const T* x, const T* bias,
                        T* y) {
    const TileLoop<T> l(ukernel, p, u, bias);
    const int64_t target = tiles_per_block<T>(p, l.m, l.padded_k, p.batch * l.per_image);
    // Whole-tensor layout changes instead of bands: for few tiles and small tensors (resnet_3x3_14
    // and _28, not _56, whose 1.6 MB of whole-tensor layout changes cost more than the bands'
    // in-cache ones save), whose phases then run over the pool; and for dilated and 3-D layers,
    // whose tile rows interleave (dilation phases) or span depth slices, so no band of tile rows
    // is a band of memory rows.
    const bool interleaved = l.dh > 1 || l.dw > 1 || l.ID > 1 || l.OD > 1;
    if (interleaved ||
        (runs_phased(p.batch * l.per_image, target, l.mr) && p.x_elements() + p.y_elements() <= (int64_t(1) << 18))) {
        through_transposed_copies(x, y, p.batch, l.C, p.in_spatial(), p.out_spatial(), l.K,
                                  [&](const T* x_last, T* y_last) {
                                      run_channels_last(ukernel, p, u, x_last, bias, y_last);
                                  });
        return;
    }
    const int64_t band_rows = std::max<int64_t>(1, std::min(target / l.tiles_w,
                                                            p.batch * l.tiles_h / get_num_threads()));
    const int64_t bands = (l.tiles_h + band_rows - 1) / band_rows;
    const int64_t block = (band_rows * l.tiles_w + l.mr - 1) / l.mr * l.mr;
    parallel_for(p.batch * bands, [&](int64_t task) {
        const int64_t n = task / bands, th0 = task % bands * band_rows, th1 = std::min(l.tiles_h, th0 + band_rows);
        const int64_t ih0 = std::max<int64_t>(0, th0 * l.m - l.top);
        const int64_t ih1 = std::max(ih0, std::min(l.IH, (th1 - 1) * l.m - l.top + l.alpha));
        const int64_t oh0 = th0 * l.m, oh1 = std::min(l.OH, th1 * l.m);
        T* x_band = scratch<T>(ScratchSlot::layout_src, (ih1 - ih0) * l.IW * l.C);
        T* y_band = scratch<T>(ScratchSlot::layout_dst, (oh1 - oh0) * l.OW * l.K);
        // The band's C x pixels block of channel planes, transposed to channels-last, and back.
        transpose_blocks(x + (n * l.C * l.IH + ih0) * l.IW, l.IH * l.IW, x_band, l.C, l.C, (ih1 - ih0) * l.IW);
        run_block(l, block, n * l.per_image + th0 * l.tiles_w, (th1 - th0) * l.tiles_w,
                  BlockMemory<T>{x_band, 0, ih0, y_band, 0, oh0});
        transpose_blocks(y_band, l.K, y + (n * l.K * l.OH + oh0) * l.OW, l.OH * l.OW, (oh1 - oh0) * l.OW, l.K);
    });
}

template const std::vector<Ukernel<float>>& ukernels<float>();
template const std::vector<Ukernel<double>>& ukernels<double>();
template const Ukernel<float>& active_ukernel<float>(int);
template const Ukernel<double>& active_ukernel<double>(int);
template int64_t filter_elements<float>(const ConvProblem&, int);
template int64_t filter_elements<double>(const ConvProblem&, int);
template void transform_filter<float>(const Ukernel<float>&, const ConvProblem&, const float*, float*, FilterLayout);
template void transform_filter<double>(const Ukernel<double>&, const ConvProblem&, const double*, double*,
                                       FilterLayout);
template bool fuses_filter_transform<float>(const ConvProblem&, int);
template bool fuses_filter_transform<double>(const ConvProblem&, int);
template void run_fused_filter<float>(const Ukernel<float>&, const ConvProblem&, const float*, const float*,
                                      const float*, float*, const SubPixelOutput*, FilterLayout);
template void run_fused_filter<double>(const Ukernel<double>&, const ConvProblem&, const double*, const double*,
                                       const double*, double*, const SubPixelOutput*, FilterLayout);
template void run_channels_last<float>(const Ukernel<float>&, const ConvProblem&, const float*, const float*,
                                       const float*, float*, const SubPixelOutput*);
template void run_channels_last<double>(const Ukernel<double>&, const ConvProblem&, const double*, const double*,
                                        const double*, double*, const SubPixelOutput*);
template void run_channels_first<float>(const Ukernel<float>&, const ConvProblem&, const float*, const float*,
                                        const float*, float*);
template void run_channels_first<double>(const Ukernel<double>&, const ConvProblem&, const double*, const double*,
                                         const double*, double*);

}  // namespace fastconv::winograd
