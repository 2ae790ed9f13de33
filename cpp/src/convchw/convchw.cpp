// The list of channels-first direct microkernels, best first within each ISA, and the choice of
// tile for a layer's shape.
#include "convchw/convchw.hpp"

#include <algorithm>

#include "fastconv/index_map.hpp"
#include "runtime/thread_pool.hpp"

namespace fastconv::convchw {

int64_t packed_block_floats(const ConvProblem& p, int64_t kb) {
    return p.in_channels_per_group() * p.kernel_spatial() * kb;
}

void pack_channel_blocks(const ConvProblem& p, int64_t kb, const float* w, float* out) {
    const int64_t Kg = p.out_channels_per_group(), Cg = p.in_channels_per_group(), taps = p.kernel_spatial();
    const int64_t blocks = ceil_div(Kg, kb);
    parallel_for(p.groups * blocks, [&](int64_t task) {
        const int64_t g = task / blocks, b = task % blocks;
        float* block = out + task * packed_block_floats(p, kb);
        for (int64_t k = 0; k < kb; ++k) {
            const int64_t channel = b * kb + k;
            const float* filter = channel < Kg ? w + (g * Kg + channel) * Cg * taps : nullptr;
            for (int64_t e = 0; e < Cg * taps; ++e) block[e * kb + k] = filter ? filter[e] : 0.0f;
        }
    });
}

const std::vector<Ukernel>& ukernels() {
    static const std::vector<Ukernel> list{
#if defined(FASTCONV_X86_KERNELS)
        {"f32_conv_chw_ukernel_8x32__avx512f", Isa::avx512, 8, 32, f32_conv_chw_ukernel_8x32__avx512f},
        {"f32_conv_chw_ukernel_6x64__avx512f", Isa::avx512, 6, 64, f32_conv_chw_ukernel_6x64__avx512f},
        {"f32_conv_chw_ukernel_12x32__avx512f", Isa::avx512, 12, 32, f32_conv_chw_ukernel_12x32__avx512f},
        {"f32_conv_chw_ukernel_24x16__avx512f", Isa::avx512, 24, 16, f32_conv_chw_ukernel_24x16__avx512f},
        {"f32_conv_chw_ukernel_8x16__avx512f", Isa::avx512, 8, 16, f32_conv_chw_ukernel_8x16__avx512f},
        {"f32_conv_chw_ukernel_6x16__avx2_fma", Isa::avx2, 6, 16, f32_conv_chw_ukernel_6x16__avx2_fma},
        {"f32_conv_chw_ukernel_12x8__avx2_fma", Isa::avx2, 12, 8, f32_conv_chw_ukernel_12x8__avx2_fma},
#endif
        {"f32_conv_chw_ukernel_4x8__scalar", Isa::scalar, 4, 8, f32_conv_chw_ukernel_4x8__scalar},
    };
    return list;
}

const std::vector<FlatUkernel>& flat_ukernels() {
    static const std::vector<FlatUkernel> list{
#if defined(FASTCONV_X86_KERNELS)
        {"f32_conv_chw_flat_ukernel_8x48__avx512f", Isa::avx512, 8, 48, f32_conv_chw_flat_ukernel_8x48__avx512f},
        {"f32_conv_chw_flat_ukernel_12x32__avx512f", Isa::avx512, 12, 32, f32_conv_chw_flat_ukernel_12x32__avx512f},
        {"f32_conv_chw_flat_ukernel_4x24__avx2_fma", Isa::avx2, 4, 24, f32_conv_chw_flat_ukernel_4x24__avx2_fma},
        {"f32_conv_chw_flat_ukernel_6x16__avx2_fma", Isa::avx2, 6, 16, f32_conv_chw_flat_ukernel_6x16__avx2_fma},
#endif
#if defined(FASTCONV_NEON_KERNELS)
        {"f32_conv_chw_flat_ukernel_6x16__neon", Isa::neon, 6, 16, f32_conv_chw_flat_ukernel_6x16__neon},
#endif
        {"f32_conv_chw_flat_ukernel_4x8__scalar", Isa::scalar, 4, 8, f32_conv_chw_flat_ukernel_4x8__scalar},
    };
    return list;
}

double channel_use(int64_t channels, int64_t kb) {
    return static_cast<double>(channels) / (double(ceil_div(channels, kb)) * kb);
}

double issue_rate(int64_t kb, int64_t vectors) {
    // Per (channel, kernel tap) step a tile issues kb * vectors FMAs and vectors + kb loads (the
    // input vectors and the weight broadcasts), both at two per cycle: fewer FMAs than loads
    // leave the FMA ports idle.
    const double fmas = double(kb) * double(vectors), loads = double(vectors) + double(kb);
    return fmas / std::max(fmas, loads);
}

double efficiency(const Ukernel& kernel, int64_t channels, int64_t width) {
    const int64_t px = kernel.pixels;
    // ceil_div: an empty problem may have a width near 2^63 (fuzz_problem), where width + px - 1
    // overflowed.
    const double pixel_use = static_cast<double>(width) / (double(ceil_div(width, px)) * px);
    const int64_t lanes = kernel.isa == Isa::avx512 ? 16 : 8;
    return channel_use(channels, kernel.kb) * pixel_use * issue_rate(kernel.kb, std::max<int64_t>(1, px / lanes));
}

const Ukernel& choose(int64_t channels, int64_t width) {
    const Isa isa = std::find_if(ukernels().begin(), ukernels().end(),
                                 [](const Ukernel& k) { return k.isa <= active_isa(); })->isa;
    const Ukernel* best = nullptr;
    for (const Ukernel& k : ukernels())
        if (k.isa == isa && (!best || efficiency(k, channels, width) > efficiency(*best, channels, width) + 1e-9))
            best = &k;
    return *best;
}

}  // namespace fastconv::convchw
