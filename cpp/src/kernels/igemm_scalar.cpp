// Portable indirect-GEMM microkernel (contract in igemm/igemm.hpp): the fallback on every CPU and
// the one aarch64 builds run. The accumulator tile has compile-time bounds so it lives in registers.
#include "igemm/igemm.hpp"

namespace fastconv::igemm {

void f32_igemm_ukernel_4x8__scalar(int64_t mr, int64_t nr, int64_t kc, int64_t ks, const float* const* a,
    int64_t a_offset, const float* w, const float* bias, float* const* c) {
    constexpr int MR = 4, NR = 8;
    float acc[MR][NR];
    for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) acc[i][j] = bias && j < nr ? bias[j] : 0.0f;
    for (int64_t t = 0; t < ks; ++t) {
        const float* rows[MR];
        for (int i = 0; i < MR; ++i) rows[i] = a[t * MR + i] + a_offset;
        for (int64_t p = 0; p < kc; ++p, w += NR)
            for (int i = 0; i < MR; ++i)
                for (int j = 0; j < NR; ++j) acc[i][j] += rows[i][p] * w[j];
    }
    for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < nr; ++j) c[i][j] = acc[i][j];
}

}  // namespace fastconv::igemm
