// Host-side planning of the CUDA kernels (see cuda_plan.hpp); compiled with or without CUDA.
#include "cuda_plan.hpp"

#include <algorithm>
#include <numeric>
#include <string>

#include "fastconv/errors.hpp"

namespace fastconv::cuda {

ConvGeometry geometry_of(const ConvProblem& p) {
    auto narrow = [](int64_t value, const char* what) {
        if (value > INT32_MAX) throw InvalidArgument(std::string("cuda: ") + what + " exceeds 2^31 - 1");
        return static_cast<int>(value);
    };
    ConvGeometry g{};
    g.N = narrow(p.batch, "batch");
    g.C = narrow(p.in_channels, "in_channels");
    g.K = narrow(p.out_channels, "out_channels");
    g.G = narrow(p.groups, "groups");
    g.Cg = g.C / g.G;
    g.Kg = g.K / g.G;
    for (int d = 0; d < 3; ++d) {
        g.in[d] = narrow(p.in_size[d], "input size");
        g.out[d] = narrow(p.out_size[d], "output size");
        g.ker[d] = narrow(p.kernel[d], "kernel size");
        g.stride[d] = narrow(p.stride[d], "stride");
        g.dil[d] = narrow(p.dilation[d], "dilation");
        g.pad[d] = narrow(p.pad_before[d], "padding");
    }
    g.taps = narrow(p.kernel_spatial(), "kernel taps");
    g.in_spatial = p.in_spatial();
    g.out_spatial = p.out_spatial();
    // Kernels index a per-image plane set with 32-bit loop counters.
    narrow(checked_mul(p.in_channels, p.in_spatial(), "input image"), "elements of one input image");
    narrow(checked_mul(p.out_channels, p.out_spatial(), "output image"), "elements of one output image");
    return g;
}

std::vector<ImplicitParams> implicit_gemm_plan(const ConvGeometry& g, bool transposed) {
    ImplicitParams p{};
    p.w_group = int64_t(g.Kg) * g.Cg * g.taps;
    for (int d = 0; d < 3; ++d) p.ker[d] = g.ker[d];
    if (!transposed) {
        p.src_channels = g.C, p.dst_channels = g.K, p.src_cpg = g.Cg, p.dst_cpg = g.Kg;
        p.src_spatial = g.in_spatial, p.dst_spatial = g.out_spatial;
        p.w_ci = g.taps, p.w_co = int64_t(g.Cg) * g.taps;
        for (int d = 0; d < 3; ++d) {
            p.src_size[d] = g.in[d], p.dst_size[d] = g.out[d], p.q_size[d] = g.out[d];
            p.q_mul[d] = g.stride[d], p.src_off[d] = -g.pad[d], p.t_mul[d] = g.dil[d], p.t_count[d] = g.ker[d];
            p.dst_mul[d] = 1, p.dst_off[d] = 0, p.r0[d] = 0, p.r_step[d] = 1;
        }
        p.Q = int(g.out_spatial);
        p.taps = g.taps;
        return {p};
    }
    p.src_channels = g.K, p.dst_channels = g.C, p.src_cpg = g.Kg, p.dst_cpg = g.Cg;
    p.src_spatial = g.out_spatial, p.dst_spatial = g.in_spatial;
    p.w_ci = int64_t(g.Cg) * g.taps, p.w_co = g.taps;
    for (int d = 0; d < 3; ++d) p.src_size[d] = g.out[d], p.dst_size[d] = g.in[d], p.q_mul[d] = 1;
    std::vector<ImplicitParams> launches;
    // One launch per residue class (rho_d, rho_h, rho_w) of the x positions.
    for (int rd = 0; rd < g.stride[0]; ++rd)
        for (int rh = 0; rh < g.stride[1]; ++rh)
            for (int rw = 0; rw < g.stride[2]; ++rw) {
                const int rho[3] = {rd, rh, rw};
                bool empty = false;
                for (int d = 0; d < 3; ++d) {
                    const int s = g.stride[d], dil = g.dil[d], pad = g.pad[d];
                    const int first = ((rho[d] - pad) % s + s) % s;  // smallest i with (i + pad) mod s == rho
                    p.q_size[d] = first < g.in[d] ? (g.in[d] - first + s - 1) / s : 0;
                    p.dst_mul[d] = s, p.dst_off[d] = first;
                    int r0 = -1;
                    for (int r = 0; r < g.ker[d] && r0 < 0; ++r)
                        if ((int64_t(r) * dil) % s == rho[d]) r0 = r;
                    const int step = s / std::gcd(s, dil);
                    p.r_step[d] = step;
                    p.r0[d] = std::max(r0, 0);
                    p.t_count[d] = r0 < 0 ? 0 : (g.ker[d] - r0 + step - 1) / step;
                    p.src_off[d] = r0 < 0 ? 0 : (first + pad - r0 * dil) / s;  // exact: both sides are rho mod s
                    p.t_mul[d] = -(step * dil / s);
                    empty = empty || p.q_size[d] == 0;
                }
                if (empty) continue;
                p.Q = p.q_size[0] * p.q_size[1] * p.q_size[2];
                p.taps = p.t_count[0] * p.t_count[1] * p.t_count[2];
                launches.push_back(p);
            }
    return launches;
}

ColumnChunk column_chunk(int64_t rows, int64_t total_pixels, int64_t row_width, std::size_t element_size,
                         std::size_t cap_bytes) {
    const int64_t max_ld = std::max<int64_t>(4, int64_t(cap_bytes / element_size) / std::max<int64_t>(rows, 1));
    int64_t pixels = std::min(total_pixels, max_ld - max_ld % 4);
    if (pixels < total_pixels && pixels >= row_width) pixels -= pixels % row_width;  // whole output rows
    pixels = std::max<int64_t>(pixels, 1);
    return {pixels, (pixels + 3) / 4 * 4};
}

SplitK split_k_plan(int64_t tiles, int64_t batches, int64_t K, int k_step, int64_t bytes_per_split,
                    std::size_t cap_bytes) {
    const int64_t steps = (std::max<int64_t>(K, 0) + k_step - 1) / k_step;
    const SplitK whole{1, std::max<int64_t>(steps, 1) * k_step};
    if (tiles <= 0 || batches <= 0 || tiles >= kSplitKTargetBlocks) return whole;
    int64_t splits = std::min<int64_t>((kSplitKTargetBlocks + tiles - 1) / tiles, steps / kSplitKMinSteps);
    splits = std::min<int64_t>(splits, kSplitKMaxSplits);
    splits = std::min<int64_t>(splits, 65535 / batches);
    if (bytes_per_split > 0) splits = std::min<int64_t>(splits, int64_t(cap_bytes) / bytes_per_split);
    if (splits <= 1) return whole;
    // Equal whole-step chunks; rounding the chunk up can leave fewer splits than asked, never an
    // empty one.
    const int64_t chunk_steps = (steps + splits - 1) / splits;
    return {int((steps + chunk_steps - 1) / chunk_steps), chunk_steps * k_step};
}

}  // namespace fastconv::cuda
