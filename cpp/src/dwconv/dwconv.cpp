// The list of depthwise microkernels, best first; dispatch takes the first the CPU allows.
#include "dwconv/dwconv.hpp"

#include <algorithm>

namespace fastconv::dwconv {

const std::vector<Ukernel>& ukernels() {
    static const std::vector<Ukernel> list{
#if defined(FASTCONV_X86_KERNELS)
        {"f32_dwconv_ukernel_c64__avx512f", Isa::avx512, f32_dwconv_ukernel_c64__avx512f,
         f32_dwconv_chw_row_ukernel__avx512f, f32_dwconv_3x3_rows4_ukernel__avx512f},
        {"f32_dwconv_ukernel_c32__avx2_fma", Isa::avx2, f32_dwconv_ukernel_c32__avx2_fma,
         f32_dwconv_chw_row_ukernel__avx2_fma, f32_dwconv_3x3_rows4_ukernel__avx2_fma},
#endif
        {"f32_dwconv_ukernel_c1__scalar", Isa::scalar, f32_dwconv_ukernel_c1__scalar,
         f32_dwconv_chw_row_ukernel__scalar, f32_dwconv_3x3_rows4_ukernel__scalar},
    };
    return list;
}

const Ukernel& active_ukernel() {
    static const Ukernel& chosen = *std::find_if(ukernels().begin(), ukernels().end(),
                                                 [](const Ukernel& k) { return k.isa <= active_isa(); });
    return chosen;
}

}  // namespace fastconv::dwconv
