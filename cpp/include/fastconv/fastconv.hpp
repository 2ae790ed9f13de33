// The C++ API of fastconv: run a convolution described by a ConvProblem with a chosen algorithm,
// unfold/fold, and the runtime settings (ISA, threads). Arrays are dense, C-contiguous, in
// (N, C, spatial...) order; weights are (K, C/groups, kernel...) for both ops (see problem.hpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fastconv/errors.hpp"
#include "fastconv/index_map.hpp"
#include "fastconv/problem.hpp"

namespace fastconv {

const char* version();

// "auto" lets the registry pick; the others restrict the choice to one family. For the transposed
// op, im2col means GEMM + col2im and direct means a formulation without a column buffer. winograd:
// F(4x4, 3x3) / F(2x2, 3x3) for forward 2-D 3x3 stride-1 convolutions (docs/winograd.md).
enum class Algo { automatic, direct, im2col, winograd, reference };
Algo parse_algo(const std::string& name);  // throws InvalidArgument listing the valid names
const char* algo_name(Algo algo);
std::vector<std::string> algo_names();

// Runs the problem. Forward: src = x, dst = y. Transposed: src = y, dst = x. bias (may be null)
// has dst_channels() elements. dst is fully written; its prior contents are ignored.
// Thread-safe; parallelised over the global thread pool.
void run_conv(const ConvProblem& problem, Algo algo, const void* src, const void* weight,
              const void* bias, void* dst);

// A prepacked convolution, as XNNPACK operators and oneDNN primitives: the implementation is chosen
// and the weights packed (reordered, transformed) once, then run() computes any number of inputs of
// exactly this problem's shape. Weights are copied or packed at construction, so the caller's
// buffer may change afterwards. run() is const and thread-safe; copies share the packed weights.
class ConvPlan {
   public:
    ConvPlan(const ConvProblem& problem, Algo algo, const void* weight);
    void run(const void* src, const void* bias, void* dst) const;
    const ConvProblem& problem() const;
    std::string impl_name() const;

   private:
    struct State;
    std::shared_ptr<const State> state_;
};

// The implementation run_conv would use, and for every registry entry whether it accepts the
// problem under `algo` or why it declines.
struct ImplChoice {
    std::string name;
    std::string algo;
    bool accepted;
    std::string reason;  // empty when accepted
};
std::string selected_impl(const ConvProblem& problem, Algo algo);
std::vector<ImplChoice> explain_selection(const ConvProblem& problem, Algo algo);

// im2col over a whole batch: x (N, C, in...) -> columns (N, C*prod(kernel), prod(out)), with the
// geometry of make_unfold_problem. fold is its adjoint (col2im): overlapping entries are summed.
void unfold(const ConvProblem& problem, const void* x, void* columns);
void fold(const ConvProblem& problem, const void* columns, void* x);

// Instruction sets with compiled kernels, best last. The active one is the best the CPU and OS
// support, capped by the environment variable FASTCONV_MAX_ISA=scalar|avx2|avx512 (scalar|neon on
// aarch64, where NEON is baseline) read once. A kernel runs when its ISA is <= the active one.
enum class Isa { scalar = 0, neon = 1, avx2 = 2, avx512 = 3 };
const char* isa_name(Isa isa);
Isa detected_isa();
Isa active_isa();
std::vector<Isa> compiled_isas();
std::string isa_override_warning();  // non-empty when FASTCONV_MAX_ISA held an unknown value

// GFLOP/s of a register-resident float32 FMA loop of `isa` run on `threads` pool threads at once for
// about `seconds`: the machine's measured peak, the yardstick of the benchmarks.
double measure_fma_peak(Isa isa, double seconds, int threads);

void set_num_threads(int num_threads);  // >= 1; safe while other threads compute
int get_num_threads();

bool cuda_compiled();
int cuda_device_count();  // 0 when not compiled, no driver or no device

}  // namespace fastconv
