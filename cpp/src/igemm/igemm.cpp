// The list of indirect-GEMM microkernels, best first; dispatch takes the first the CPU allows.
#include "igemm/igemm.hpp"

#include <algorithm>

namespace fastconv::igemm {

const std::vector<Ukernel>& ukernels() {
    static const std::vector<Ukernel> list{
#if defined(FASTCONV_X86_KERNELS)
        {"f32_igemm_ukernel_6x64__avx512f", Isa::avx512, 6, 64, f32_igemm_ukernel_6x64__avx512f},
        {"f32_igemm_ukernel_8x32__avx512f", Isa::avx512, 8, 32, f32_igemm_ukernel_8x32__avx512f},
        {"f32_igemm_ukernel_12x16__avx512f", Isa::avx512, 12, 16, f32_igemm_ukernel_12x16__avx512f},
        {"f32_igemm_ukernel_10x8__avx512f", Isa::avx512, 10, 8, f32_igemm_ukernel_10x8__avx512f},
        {"f32_igemm_ukernel_10x16_group_pairs__avx512f", Isa::avx512, 10, 16,
         f32_igemm_ukernel_10x16_group_pairs__avx512f, 2},
        {"f32_igemm_ukernel_10x16_group_quads__avx512f", Isa::avx512, 10, 16,
         f32_igemm_ukernel_10x16_group_quads__avx512f, 4},
        {"f32_igemm_ukernel_6x16__avx2_fma", Isa::avx2, 6, 16, f32_igemm_ukernel_6x16__avx2_fma},
        {"f32_igemm_ukernel_8x8__avx2_fma", Isa::avx2, 8, 8, f32_igemm_ukernel_8x8__avx2_fma, 1,
         f32_igemm_ukernel_8x8_row_of_three__avx2_fma},
        {"f32_igemm_ukernel_8x8_group_pairs__avx2_fma", Isa::avx2, 8, 8, f32_igemm_ukernel_8x8_group_pairs__avx2_fma, 2},
        {"f32_igemm_ukernel_8x8_group_quads__avx2_fma", Isa::avx2, 8, 8, f32_igemm_ukernel_8x8_group_quads__avx2_fma, 4},
#endif
        {"f32_igemm_ukernel_4x8__scalar", Isa::scalar, 4, 8, f32_igemm_ukernel_4x8__scalar},
    };
    return list;
}

const Ukernel& active_ukernel() {
    static const Ukernel& chosen = *std::find_if(ukernels().begin(), ukernels().end(), [](const Ukernel& k) {
        return k.isa <= active_isa() && k.groups_per_call == 1;
    });
    return chosen;
}

}  // namespace fastconv::igemm
