// Register-resident FMA loops that measure the machine's floating-point peak for each ISA, so the
// benchmark can report "percent of measured peak" instead of a number from a data sheet.
// Each runs `iterations` rounds over independent float32 accumulator chains (enough chains to cover
// FMA latency x throughput on current cores) and returns the flops it performed.
#pragma once

#include <cstdint>

namespace fastconv {

double f32_fma_peak__scalar(int64_t iterations);
double f32_fma_peak__avx2_fma(int64_t iterations);
double f32_fma_peak__avx512f(int64_t iterations);
double f32_fma_peak__neon(int64_t iterations);

}  // namespace fastconv
