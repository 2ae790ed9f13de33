// Flush-to-zero inside kernels. A denormal (subnormal) operand or result costs an x86 core a
// microcode assist of ~100 cycles, so a layer whose activations decay into the denormal range ran
// ~80x slower than on normal numbers (measured on the 3x3 64->64 layer of tests/python/test_edges.py).
// While a kernel runs, the x86 MXCSR register gets FTZ (denormal results become 0) and DAZ
// (denormal inputs read as 0), as pthreadpool's PTHREADPOOL_FLAG_DISABLE_DENORMALS does for XNNPACK;
// the caller's mode is restored on return, so the rest of the process (NumPy included) keeps
// gradual underflow. Pool workers adopt the submitting thread's mode for the tasks of one
// parallel_for and restore their own afterwards (thread_pool.cpp). On other architectures these
// are no-ops.
#pragma once

#include <cstdint>

#if defined(__SSE__) || defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define FASTCONV_HAS_MXCSR 1
#endif

namespace fastconv {

// The floating-point control bits of this thread (MXCSR bits 6..15: DAZ, exception masks,
// rounding, FTZ); the sticky status flags (bits 0..5) are not part of the mode.
inline uint32_t float_mode() {
#if defined(FASTCONV_HAS_MXCSR)
    return _mm_getcsr() & 0xFFC0u;
#else
    return 0;
#endif
}

inline void set_float_mode(uint32_t mode) {
#if defined(FASTCONV_HAS_MXCSR)
    _mm_setcsr((_mm_getcsr() & 0x3Fu) | (mode & 0xFFC0u));
#else
    (void)mode;
#endif
}

inline constexpr uint32_t kFlushDenormals = 0x8040u;  // FTZ (bit 15) | DAZ (bit 6)

// Sets `mode` on this thread for the scope's lifetime, then restores the previous one.
class ScopedFloatMode {
   public:
    explicit ScopedFloatMode(uint32_t mode) : saved_(float_mode()) {
        if (mode != saved_) set_float_mode(mode);
    }
    ~ScopedFloatMode() {
        if (float_mode() != saved_) set_float_mode(saved_);
    }
    ScopedFloatMode(const ScopedFloatMode&) = delete;
    ScopedFloatMode& operator=(const ScopedFloatMode&) = delete;

   private:
    uint32_t saved_;
};

// The kernels' mode: the caller's with denormals flushed.
class FlushDenormalsScope : public ScopedFloatMode {
   public:
    FlushDenormalsScope() : ScopedFloatMode(float_mode() | kFlushDenormals) {}
};

}  // namespace fastconv
