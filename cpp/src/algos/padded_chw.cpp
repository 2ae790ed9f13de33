// Direct convolution on channels-first memory through a padded polyphase copy, float32, forward,
// any stride, dilation and padding: the convchw flat microkernels (convchw/convchw.hpp) compute
// tiles of output channels x consecutive pixels with plain vector loads and no masks.
//
// Each task (image, group, output depth, chunk of output rows) first copies the input its rows read
// into per-task scratch: per channel, one zero-padded plane per (depth tap, height residue, width
// residue) of the stride, holding the padded input's elements at that residue. Output pixel
// (oh, ow) then reads tap (kd, kh, kw) at row oh + kh*dh/sh, column ow + kw*dw/sw of plane
// (kd, kh*dh mod sh, kw*dw mod sw): unit stride, whatever the stride. With rows of the planes
// Wq = OW + (KW-1)*dw/sw long, output pixel (oh, ow) is flat pixel oh*Wq + ow and every tap is one
// fixed offset from it, so a tile runs along the flat index across row ends; the Wq - OW pixels
// between rows are junk, computed and dropped. (Without the split a stride-2 row is no vector load;
// without the flat index a 28-pixel row fills 24-pixel tiles at 58%.) Tiles land in a staging
// buffer, copied to y row by row with the bias added.
//
// Every output element is one microkernel FMA chain over (channel, tap) in order from zero, plus the
// bias: the bits do not depend on the chunking or the thread count.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <vector>

#include "convchw/convchw.hpp"
#include "fastconv/index_map.hpp"
#include "layout.hpp"
#include "registry.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/workspace.hpp"

namespace fastconv {
namespace {

constexpr int64_t kMaxRowCopyFloats = (256 << 10) / sizeof(float);

// The residues modulo the stride that the kernel's taps land on along one dimension (stride
// larger than the kernel's extent: some residues are never read and get no plane).
struct Phases {
    std::vector<int64_t> residues;  // in increasing order; a residue's plane index is its position
    int64_t max_shift = 0;          // the largest (tap * dilation) / stride
    int64_t plane_of(int64_t residue) const {
        return std::lower_bound(residues.begin(), residues.end(), residue) - residues.begin();
    }
};

Phases phases(int64_t kernel, int64_t stride, int64_t dilation) {
    Phases ph;
    for (int64_t t = 0; t < kernel; ++t) {
        ph.residues.push_back(t * dilation % stride);
        ph.max_shift = std::max(ph.max_shift, t * dilation / stride);
    }
    std::sort(ph.residues.begin(), ph.residues.end());
    ph.residues.erase(std::unique(ph.residues.begin(), ph.residues.end()), ph.residues.end());
    return ph;
}

// Everything that does not depend on the activations: the tile, the copy's shape, the taps'
// offsets and the weights packed by convchw::pack_channel_blocks.
struct PackedFlat {
    const convchw::FlatUkernel* ukernel;
    Phases ph_h, ph_w;
    int64_t row_length = 0;     // Wq
    int64_t rows_per_task = 0;  // output rows per task
    int64_t plane = 0;          // floats per plane: (rows_per_task + max_shift_h) * Wq
    int64_t channel_stride = 0; // planes per channel * plane
    int64_t flat_pixels = 0;    // per task, rounded up to whole tiles
    std::vector<int64_t> tap_offsets;
    int64_t blocks = 0;  // channel blocks per group
    OwnedBuffer owned;
    const float* weights = nullptr;
};

int64_t block_size(const ConvProblem& p, const PackedFlat& pf) {
    return convchw::packed_block_floats(p, pf.ukernel->kb);
}

// The tile with the best share of useful lanes (output channels per group over whole blocks,
// output pixels over the flat pixels computed) times how close its loads let it come to the FMA
// ports, among the active ISA's kernels.
// An empty problem (no output channels or pixels, which a plan still packs for) takes the first.
const convchw::FlatUkernel& choose_ukernel(const ConvProblem& p, int64_t row_length) {
    const auto& list = convchw::flat_ukernels();
    const auto first = std::find_if(list.begin(), list.end(), [](const auto& k) { return k.isa <= active_isa(); });
    const convchw::FlatUkernel* best = &*first;
    const int64_t Kg = p.out_channels_per_group(), OH = p.out_size[1], OW = p.out_size[2];
    if (Kg == 0 || OH == 0 || OW == 0) return *best;
    double best_score = -1.0;
    for (auto k = first; k != list.end() && k->isa == first->isa; ++k) {
        const int64_t flat = (OH - 1) * row_length + OW;
        const double pixel_use = double(OH * OW) / double(ceil_div(flat, int64_t{k->pixels}) * k->pixels);
        const int64_t lanes = k->isa == Isa::avx512 ? 16 : k->isa == Isa::avx2 ? 8 : k->isa == Isa::neon ? 4 : 1;
        const double score = convchw::channel_use(Kg, k->kb) * pixel_use *
                             convchw::issue_rate(k->kb, std::max<int64_t>(1, k->pixels / lanes));
        if (score > best_score + 1e-9) {
            best = &*k;
            best_score = score;
        }
    }
    return *best;
}

std::shared_ptr<PackedFlat> layout(const ConvProblem& p, const convchw::FlatUkernel* ukernel) {
    auto pf = std::make_shared<PackedFlat>();
    pf->ph_h = phases(p.kernel[1], p.stride[1], p.dilation[1]);
    pf->ph_w = phases(p.kernel[2], p.stride[2], p.dilation[2]);
    const int64_t OH = p.out_size[1], OW = p.out_size[2];
    pf->row_length = OW + pf->ph_w.max_shift;
    pf->ukernel = ukernel ? ukernel : &choose_ukernel(p, pf->row_length);
    const int64_t Cg = p.in_channels_per_group(), Kg = p.out_channels_per_group();
    const int64_t KB = pf->ukernel->kb, P = pf->ukernel->pixels;
    pf->blocks = ceil_div(Kg, KB);
    const int64_t planes = p.kernel[0] * static_cast<int64_t>(pf->ph_h.residues.size() * pf->ph_w.residues.size());
    // Rows per task: the copy and one staged block within about half of L2, and at least four
    // tasks per thread when the problem has that many rows.
    const int64_t row_floats = (Cg * planes + KB) * pf->row_length;
    const int64_t budget_rows = (int64_t{128} << 10) / std::max<int64_t>(1, row_floats * 4);
    int64_t rows = std::clamp<int64_t>(budget_rows, 1, std::max<int64_t>(1, OH));
    const int64_t outer = p.batch * p.groups * p.out_size[0];
    const int64_t threads = ThreadPool::instance().num_threads();
    while (rows > 1 && outer * ceil_div(OH, rows) < 4 * threads) rows = ceil_div(rows, 2);
    pf->rows_per_task = rows;
    pf->plane = (rows + pf->ph_h.max_shift) * pf->row_length;
    pf->channel_stride = planes * pf->plane;
    pf->flat_pixels = ceil_div((rows - 1) * pf->row_length + OW, P) * P;
    for (int64_t kd = 0; kd < p.kernel[0]; ++kd)
        for (int64_t kh = 0; kh < p.kernel[1]; ++kh)
            for (int64_t kw = 0; kw < p.kernel[2]; ++kw) {
                const int64_t h = kh * p.dilation[1], w = kw * p.dilation[2];
                const int64_t plane_index =
                    (kd * static_cast<int64_t>(pf->ph_h.residues.size()) + pf->ph_h.plane_of(h % p.stride[1])) *
                        static_cast<int64_t>(pf->ph_w.residues.size()) +
                    pf->ph_w.plane_of(w % p.stride[2]);
                pf->tap_offsets.push_back(plane_index * pf->plane + h / p.stride[1] * pf->row_length + w / p.stride[2]);
            }
    return pf;
}

// ukernel: null for the best of the active ISA's tiles.
std::shared_ptr<PackedFlat> pack_with(const ConvProblem& p, const float* w, bool use_scratch,
                                      const convchw::FlatUkernel* ukernel = nullptr) {
    std::shared_ptr<PackedFlat> pf = layout(p, ukernel);
    const int64_t elements = p.groups * pf->blocks * block_size(p, *pf);
    float* data = static_cast<float*>(
        packed_buffer(static_cast<size_t>(elements) * sizeof(float), use_scratch, pf->owned));
    convchw::pack_channel_blocks(p, pf->ukernel->kb, w, data);
    pf->weights = data;
    return pf;
}

// One plane row: out[q] = row[first + q * stride] for q in cols (the columns that read the input),
// zero elsewhere in [0, count).
void copy_plane_row(const float* row, int64_t first, int64_t stride, OutputRange cols, int64_t count, float* out) {
    std::fill(out, out + cols.begin, 0.0f);
    if (stride == 1) {
        std::copy(row + first + cols.begin, row + first + cols.end, out + cols.begin);
    } else if (stride == 2) {
        copy_even(row + first + 2 * cols.begin, cols.size(), out + cols.begin);
    } else {
        for (int64_t q = cols.begin; q < cols.end; ++q) out[q] = row[first + q * stride];
    }
    std::fill(out + cols.end, out + count, 0.0f);
}

// The task's copy: for each channel of group g, the planes of output depth od's taps for output
// rows [oh0, oh0 + rows).
void fill_copy(const ConvProblem& p, const PackedFlat& pf, const float* x, int64_t n, int64_t g, int64_t od,
               int64_t oh0, int64_t rows, float* copy) {
    const Dims& I = p.in_size;
    const int64_t Cg = p.in_channels_per_group(), C = p.in_channels, Wq = pf.row_length, cs = pf.channel_stride;
    const int64_t n_h = static_cast<int64_t>(pf.ph_h.residues.size());
    const int64_t n_w = static_cast<int64_t>(pf.ph_w.residues.size());
    const int64_t plane_rows = rows + pf.ph_h.max_shift;  // later rows of a short last chunk are never read
    for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
        const int64_t id = od * p.stride[0] - p.pad_before[0] + kd * p.dilation[0];
        for (int64_t a = 0; a < n_h; ++a)
            for (int64_t b = 0; b < n_w; ++b) {
                // Plane column q reads input column q * stride + first; computed once per plane, not
                // per row (two divisions per row were a tenth of a grouped layer's time).
                const int64_t first = pf.ph_w.residues[b] - p.pad_before[2];
                const OutputRange cols = valid_outputs(0, I[2], Wq, p.stride[2], 1, -first);
                float* plane = copy + ((kd * n_h + a) * n_w + b) * pf.plane;
                for (int64_t j = 0; j < plane_rows; ++j) {
                    float* out = plane + j * Wq;
                    const int64_t ih = (oh0 + j) * p.stride[1] + pf.ph_h.residues[a] - p.pad_before[1];
                    if (id < 0 || id >= I[0] || ih < 0 || ih >= I[1]) {
                        for (int64_t c = 0; c < Cg; ++c) std::fill(out + c * cs, out + c * cs + Wq, 0.0f);
                    } else {
                        for (int64_t c = 0; c < Cg; ++c) {
                            const float* row = x + (((n * C + g * Cg + c) * I[0] + id) * I[1] + ih) * I[2];
                            copy_plane_row(row, first, p.stride[2], cols, Wq, out + c * cs);
                        }
                    }
                }
            }
    }
}

void run_packed_impl(const ConvProblem& p, const ConvArgs& args, const void* packed) {
    const PackedFlat& pf = *static_cast<const PackedFlat*>(packed);
    const convchw::FlatUkernel& k = *pf.ukernel;
    const float* x = static_cast<const float*>(args.src);
    const float* bias = static_cast<const float*>(args.bias);
    float* y = static_cast<float*>(args.dst);
    const int64_t Kg = p.out_channels_per_group(), Cg = p.in_channels_per_group();
    const Dims& O = p.out_size;
    const int64_t KB = k.kb, P = k.pixels, Wq = pf.row_length;
    const int64_t chunks = ceil_div(O[1], pf.rows_per_task);
    const int64_t taps = p.kernel_spatial();
    const int64_t copy_floats = Cg * pf.channel_stride + P;  // P: the last tile's junk lanes read past the copy
    const int64_t stage_stride = pf.flat_pixels;
    const bool stream = writes_to_memory(p.dst_elements() * static_cast<int64_t>(sizeof(float)));
    parallel_for(p.batch * p.groups * O[0] * chunks, [&](int64_t task) {
        const int64_t chunk = task % chunks, od = task / chunks % O[0], g = task / chunks / O[0] % p.groups,
                      n = task / chunks / O[0] / p.groups;
        const int64_t oh0 = chunk * pf.rows_per_task, rows = std::min(pf.rows_per_task, O[1] - oh0);
        // Not the layout_* slots: run_conv converts channels-last problems through those.
        float* copy = scratch<float>(ScratchSlot::columns, copy_floats);
        float* stage = scratch<float>(ScratchSlot::accumulators, KB * stage_stride);
        fill_copy(p, pf, x, n, g, od, oh0, rows, copy);
        std::fill(copy + Cg * pf.channel_stride, copy + copy_floats, 0.0f);
        const int64_t flat = (rows - 1) * Wq + O[2];
        convchw::FlatTileArgs t{};
        t.channel_stride = pf.channel_stride;
        t.tap_offsets = pf.tap_offsets.data();
        t.taps = taps;
        t.channels = Cg;
        t.y_stride = stage_stride;
        // Block by block: the block's weights stay in L1 across the flat pixels, the copy in L1/L2
        // across the blocks, and the staged block goes to y while it is hot.
        const float* w_group = pf.weights + g * pf.blocks * block_size(p, pf);
        for (int64_t b = 0; b < pf.blocks; ++b) {
            t.w = w_group + b * block_size(p, pf);
            for (int64_t f = 0; f < flat; f += P) {
                t.x = copy + f;
                t.y = stage + f;
                k.fn(t);
            }
            const int64_t kb = std::min(KB, Kg - b * KB);
            for (int64_t kk = 0; kk < kb; ++kk) {
                const int64_t channel = g * Kg + b * KB + kk;
                const float add = bias ? bias[channel] : 0.0f;
                float* y_channel = y + ((n * p.out_channels + channel) * O[0] + od) * O[1] * O[2];
                for (int64_t r = 0; r < rows; ++r)
                    add_row(stage + kk * stage_stride + r * Wq, add, y_channel + (oh0 + r) * O[2], O[2], stream);
            }
        }
        if (stream) fence_streaming_stores();
    });
}

std::shared_ptr<const void> pack_impl(const ConvProblem& p, const void* weight) {
    return pack_with(p, static_cast<const float*>(weight), false);
}

void run_impl(const ConvProblem& p, const ConvArgs& args) {
    run_packed_impl(p, args, pack_with(p, static_cast<const float*>(args.weight), true).get());
}

// The floats of the copy one output row needs: its planes' rows for every input channel of a group.
double row_copy_floats(const ConvProblem& p) {
    const Phases h = phases(p.kernel[1], p.stride[1], p.dilation[1]);
    const Phases w = phases(p.kernel[2], p.stride[2], p.dilation[2]);
    return double(p.in_channels_per_group()) * double(p.kernel[0]) * double(h.residues.size() * w.residues.size()) *
           double(1 + h.max_shift) * double(p.out_size[2] + w.max_shift);
}

std::string declines_padded_chw(const ConvProblem& p) {
    if (p.kind != ConvKind::forward) return "handles forward convolutions only";
    if (p.dtype != DType::f32) return "float32 only";
    // On channels-last memory igemm reads x in place and writes whole channel vectors of y; this
    // kernel's copy in and transposes out measured no faster on grouped_3x3 and 13% slower on
    // the stem there.
    if (p.layout != Layout::channels_first) return "needs channels-first (N, C, spatial...) memory";
    // Each tile broadcasts one weight per output channel and step, as igemm's tiles broadcast one
    // input value per pixel; with wide groups both in and out igemm's channels-last tiles measured
    // 1.2-1.8x faster on the suite's dense layers (channels-first input, transposes included).
    // Thin groups leave igemm's channel vectors idle (grouped_3x3: 8 per group) and few input
    // channels make its per-tap work short (the RGB stem); there this kernel wins.
    if (p.out_channels_per_group() > 16 && p.in_channels_per_group() >= 8)
        return "more than 16 output and 8 or more input channels per group (igemm's channels-last tiles are "
               "faster there)";
    if (p.dst_elements() > 0 && row_copy_floats(p) > double(kMaxRowCopyFloats))
        return "the input copy for one output row would exceed 256 KB (direct_chw reads the input in place)";
    return {};
}

}  // namespace

const ConvImpl padded_chw_impl{"padded_chw", Algo::direct, declines_padded_chw, run_impl, pack_impl, run_packed_impl};

namespace convchw {
// Runs one problem with an explicit flat microkernel, so tests can check every compiled ISA variant.
void run_with(const FlatUkernel& ukernel, const ConvProblem& p, const ConvArgs& args) {
    run_packed_impl(p, args, pack_with(p, static_cast<const float*>(args.weight), false, &ukernel).get());
}
}  // namespace convchw

}  // namespace fastconv
