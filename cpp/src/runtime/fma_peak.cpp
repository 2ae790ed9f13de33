// measure_fma_peak: runs the peak loop of an ISA on every pool thread at once for a given time and
// reports the total GFLOP/s, the denominator of the benchmark's "percent of peak".
#include <algorithm>
#include <atomic>
#include <chrono>

#include "fastconv/fastconv.hpp"
#include "kernels/fma_peak.hpp"
#include "runtime/thread_pool.hpp"

namespace fastconv {

double measure_fma_peak(Isa isa, double seconds, int threads) {
    if (isa > detected_isa())
        throw InvalidArgument(std::string("measure_fma_peak: this CPU cannot run ") + isa_name(isa) +
                              " (detected " + isa_name(detected_isa()) + ")");
    if (!(seconds > 0 && seconds <= 60)) throw InvalidArgument("measure_fma_peak: seconds must be in (0, 60]");
    if (threads < 1 || threads > get_num_threads())
        throw InvalidArgument("measure_fma_peak: threads must be between 1 and get_num_threads()");
    double (*loop)(int64_t) = f32_fma_peak__scalar;
#if defined(FASTCONV_X86_KERNELS)
    if (isa == Isa::avx2) loop = f32_fma_peak__avx2_fma;
    if (isa == Isa::avx512) loop = f32_fma_peak__avx512f;
#endif
#if defined(FASTCONV_NEON_KERNELS)
    if (isa == Isa::neon) loop = f32_fma_peak__neon;
#endif
    using Clock = std::chrono::steady_clock;
    loop(100000);  // wake the core up to its sustained clock before timing
    std::atomic<double> total_gflops{0.0};
    ThreadPool::instance().parallel_for(threads, [&](int64_t) {
        // Grow the round count until one timed run lasts the requested time.
        int64_t iterations = 1 << 16;
        for (;;) {
            const auto start = Clock::now();
            const double flops = loop(iterations);
            const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
            if (elapsed >= seconds || iterations > (int64_t(1) << 40)) {
                double expected = total_gflops.load();
                while (!total_gflops.compare_exchange_weak(expected, expected + flops / elapsed * 1e-9)) {
                }
                return;
            }
            const double growth = elapsed > 0 ? std::max(2.0, 1.2 * seconds / elapsed) : 16.0;
            iterations = static_cast<int64_t>(static_cast<double>(iterations) * growth);
        }
    });
    return total_gflops.load();
}

}  // namespace fastconv
