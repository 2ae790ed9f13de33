// Runtime instruction-set detection and the FASTCONV_MAX_ISA cap (see fastconv.hpp). The CPU must
// report the ISA's instructions and the OS must save the matching register state on context
// switches (XCR0), or the kernels would fault or see their registers clobbered.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"
#include "runtime/prefetch.hpp"

#if defined(FASTCONV_X86_KERNELS)
#include <cpuid.h>
#endif

namespace fastconv {
namespace {

#if defined(FASTCONV_X86_KERNELS)

// XCR0 state components: SSE (XMM), AVX (upper YMM), and AVX-512's opmask, ZMM0-15 upper halves
// and ZMM16-31.
constexpr uint64_t kXcr0Ymm = (1u << 1) | (1u << 2);
constexpr uint64_t kXcr0Zmm = kXcr0Ymm | (1u << 5) | (1u << 6) | (1u << 7);

uint64_t read_xcr0() {
    uint32_t eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<uint64_t>(edx) << 32) | eax;
}

Isa detect() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_max(0, nullptr) < 7) return Isa::scalar;
    __cpuid_count(1, 0, eax, ebx, ecx, edx);
    const bool fma = ecx & bit_FMA, osxsave = ecx & bit_OSXSAVE, avx = ecx & bit_AVX;
    if (!(osxsave && avx && fma)) return Isa::scalar;  // xgetbv itself needs OSXSAVE
    const uint64_t xcr0 = read_xcr0();
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const bool avx2 = ebx & bit_AVX2;
    if (!avx2 || (xcr0 & kXcr0Ymm) != kXcr0Ymm) return Isa::scalar;
    // The AVX-512 kernel file is compiled with F, VL, DQ and BW, so all four must be present.
    const bool avx512 = (ebx & bit_AVX512F) && (ebx & bit_AVX512VL) && (ebx & bit_AVX512DQ) && (ebx & bit_AVX512BW);
    if (!avx512 || (xcr0 & kXcr0Zmm) != kXcr0Zmm) return Isa::avx2;
    return Isa::avx512;
}

#elif defined(FASTCONV_NEON_KERNELS)

// Advanced SIMD (with FMA) is part of every ARMv8-A core and of the AArch64 Linux ABI.
Isa detect() { return Isa::neon; }

#else

Isa detect() { return Isa::scalar; }

#endif

const Isa kAllIsas[] = {Isa::scalar, Isa::neon, Isa::avx2, Isa::avx512};

struct IsaSettings {
    Isa detected;
    Isa active;
    std::string warning;
};

IsaSettings read_settings() {
    const Isa detected = detect();
    IsaSettings settings{detected, detected, {}};
    const char* env = std::getenv("FASTCONV_MAX_ISA");
    if (env == nullptr || *env == '\0') return settings;
    for (Isa isa : kAllIsas) {
        if (std::string(env) == isa_name(isa)) {
            // The best compiled ISA within the cap: another architecture's name (neon on x86-64,
            // avx2 on aarch64) caps at what this build has below it.
            for (Isa compiled : compiled_isas())
                if (compiled <= std::min(isa, detected)) settings.active = compiled;
            return settings;
        }
    }
    std::string accepted;
    for (Isa isa : kAllIsas) accepted += (accepted.empty() ? "" : ", ") + std::string(isa_name(isa));
    settings.warning = "FASTCONV_MAX_ISA='" + std::string(env) +
                       "' is not a known instruction set and was ignored; accepted values: " + accepted;
    return settings;
}

const IsaSettings& settings() {
    static const IsaSettings value = read_settings();
    return value;
}

}  // namespace

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::scalar:
            return "scalar";
        case Isa::neon:
            return "neon";
        case Isa::avx2:
            return "avx2";
        case Isa::avx512:
            return "avx512";
    }
    return "unknown";
}

Isa detected_isa() { return settings().detected; }

Isa active_isa() { return settings().active; }

std::vector<Isa> compiled_isas() {
#if defined(FASTCONV_X86_KERNELS)
    return {Isa::scalar, Isa::avx2, Isa::avx512};
#elif defined(FASTCONV_NEON_KERNELS)
    return {Isa::scalar, Isa::neon};
#else
    return {Isa::scalar};
#endif
}

std::string isa_override_warning() { return settings().warning; }

namespace {

// cpuid's vendor string is "GenuineIntel" (in EBX, EDX, ECX).
bool is_intel() {
#if defined(FASTCONV_X86_KERNELS)
    unsigned max_leaf = 0, ebx = 0, ecx = 0, edx = 0;
    __cpuid(0, max_leaf, ebx, ecx, edx);
    return ebx == 0x756e6547 && edx == 0x49656e69 && ecx == 0x6c65746e;
#else
    return false;
#endif
}

}  // namespace

bool output_prefetch_pays() {
    static const bool pays = !is_intel();
    return pays;
}

}  // namespace fastconv
