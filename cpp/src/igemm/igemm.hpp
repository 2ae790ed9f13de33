// Indirect GEMM (XNNPACK's "igemm"): the microkernel of fastconv's direct convolution on
// channels-last memory. A tile is MR output pixels x NR output channels; for each kernel tap the
// caller hands MR pointers, one per pixel, to the kc input channels that pixel reads through that
// tap (or to a zero row where it reads padding). Stride, dilation, padding and the transposed op's
// stride decomposition all live in those pointers, so one kernel per ISA serves every geometry and
// no column matrix is ever built.
#pragma once

#include <cstdint>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace fastconv::igemm {

// c[i][j] = bias[j] (or 0) + sum over t < ks, p < kc of A(t, i)[p] * w[(t * kc + p) * NR + j]
// for i < mr, j < nr, where A(t, i) = a[t * MR + i] + a_offset. The offset lets one table of row
// pointers serve every group of a grouped convolution: building the table costs as much as a small
// group's product. A padding read points at a zero buffer long enough for every offset the table
// serves, so the kernel adds the offset blindly: telling the zero row apart (a compare and a
// conditional move per row and tap) took a seventh of a grouped layer's 8-channel taps.
// w is packed: NR values per (tap, channel), zero beyond nr, 64-byte aligned. Rows i >= mr must
// still point at readable memory (the zero buffer): the kernel computes all MR. Each element is
// one FMA chain in (t, p) order, so results do not depend on the tiling.
using UkernelFn = void (*)(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
                           int64_t a_offset, const float* w, const float* bias, float* const* c);

// A kernel with groups_per_call = G > 1 takes G consecutive groups of exactly nr / G input and
// nr / G output channels per call instead (takes_group_bundles): kc = nr / G, A(t, i) points at
// the G groups' nr input channels, w holds per (t, p) nr values, group q's filters at lanes
// q * kc on, and c[i] and bias are the G groups' nr output channels. Every element is still one
// FMA chain in (t, p) order over its own group's inputs, the bits of the one-group kernels.
//
// row_of_three, where present, computes the same tile for a caller that guarantees more: mr == MR
// pixels in one output row, and taps in rows of 3 along the width at stride 1 and dilation 1 (ks a
// multiple of 3, tap t + 1 one input column right of tap t within a row), so pixel i through tap
// column k reads the pixel i + k reads through column 0. It sums each row of taps channel by
// channel, its 3 columns innermost: other bits than fn's, but which of the two serves a pixel is
// the caller's choice from the problem alone.
struct Ukernel {
    const char* name;  // e.g. "f32_igemm_ukernel_6x64__avx512f"
    Isa isa;
    int mr;
    int nr;
    UkernelFn fn;
    int groups_per_call = 1;
    UkernelFn row_of_three = nullptr;
};

// Every compiled kernel, best ISA first, ending with the portable one.
const std::vector<Ukernel>& ukernels();
// The first one-group kernel whose ISA the CPU (and FASTCONV_MAX_ISA) allows.
const Ukernel& active_ukernel();

// Whether a problem can run on a groups_per_call = G > 1 kernel: forward, a multiple of G groups of
// nr / G input and nr / G output channels.
bool takes_group_bundles(const Ukernel& ukernel, const ConvProblem& p);
// The active ISA's group-bundle kernel that takes p, or nullptr.
const Ukernel* group_bundle_ukernel(const ConvProblem& p);

void f32_igemm_ukernel_4x8__scalar(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a, int64_t a_offset,
    const float* w, const float* bias, float* const* c);
void f32_igemm_ukernel_6x16__avx2_fma(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a, int64_t a_offset,
    const float* w, const float* bias, float* const* c);
void f32_igemm_ukernel_8x8__avx2_fma(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a, int64_t a_offset,
    const float* w, const float* bias, float* const* c);
void f32_igemm_ukernel_8x8_row_of_three__avx2_fma(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c);
void f32_igemm_ukernel_8x8_group_pairs__avx2_fma(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c);
void f32_igemm_ukernel_8x8_group_quads__avx2_fma(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c);
void f32_igemm_ukernel_6x64__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a, int64_t a_offset,
    const float* w, const float* bias, float* const* c);
void f32_igemm_ukernel_8x32__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a, int64_t a_offset,
    const float* w, const float* bias, float* const* c);
void f32_igemm_ukernel_12x16__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a, int64_t a_offset,
    const float* w, const float* bias, float* const* c);
void f32_igemm_ukernel_10x16_group_pairs__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c);
void f32_igemm_ukernel_10x16_group_quads__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c);
void f32_igemm_ukernel_10x8__avx512f(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a, int64_t a_offset,
    const float* w, const float* bias, float* const* c);

}  // namespace fastconv::igemm
