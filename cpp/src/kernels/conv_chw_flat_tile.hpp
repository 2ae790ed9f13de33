// The channels-first direct tile on a padded polyphase copy (contract: convchw::FlatTileArgs in
// convchw/convchw.hpp), written once over vector traits V (Vec, lanes, zero, load, store,
// broadcast, fma: vec_<isa>.hpp's, or the scalar file's) in each ISA file's anonymous namespace.
// KB output channels x NV vectors of consecutive flat pixels: per (channel, tap) step NV plain
// loads and KB weight broadcasts feed KB * NV FMAs, with no masks and no row checks, since every
// tap of every lane reads inside the copy (padding is in it as zeros; lanes past a row's end
// compute pixels the caller discards).
#pragma once

#include <cstdint>

#include "convchw/convchw.hpp"

namespace fastconv::convchw {

template <typename V, int KB, int NV>
inline void flat_tile(const FlatTileArgs& t) {
    typename V::Vec acc[KB][NV];
#pragma GCC unroll 32
    for (int k = 0; k < KB; ++k)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[k][v] = V::zero();
    const float* w = t.w;
    for (int64_t c = 0; c < t.channels; ++c) {
        const float* x_channel = t.x + c * t.channel_stride;
        for (int64_t tap = 0; tap < t.taps; ++tap, w += KB) {
            const float* x = x_channel + t.tap_offsets[tap];
            typename V::Vec xv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) xv[v] = V::load(x + v * V::lanes);
#pragma GCC unroll 32
            for (int k = 0; k < KB; ++k) {
                const typename V::Vec wk = V::broadcast(w + k);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) acc[k][v] = V::fma(wk, xv[v], acc[k][v]);
            }
        }
    }
#pragma GCC unroll 32
    for (int k = 0; k < KB; ++k)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) V::store(t.y + k * t.y_stride + v * V::lanes, acc[k][v]);
}

}  // namespace fastconv::convchw
