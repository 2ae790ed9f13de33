// AArch64 NEON channels-first flat microkernel (contract: convchw::FlatTileArgs in
// convchw/convchw.hpp; Advanced SIMD is baseline there, so no flags). Register budget, 32 q
// registers: 6 output channels x 4 vectors of pixels (24 accumulators), the 4 input vectors and
// one broadcast weight.
#include "convchw/convchw.hpp"
#include "kernels/conv_chw_flat_tile.hpp"
#include "kernels/vec_neon.hpp"

namespace fastconv::convchw {

void f32_conv_chw_flat_ukernel_6x16__neon(const FlatTileArgs& args) { flat_tile<simd::F32Q, 6, 4>(args); }

}  // namespace fastconv::convchw
