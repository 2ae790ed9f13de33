// The ordered registry of convolution implementations (oneDNN's idea): each entry says whether it
// accepts a problem or why it declines; selection takes the first acceptable entry of the requested
// algorithm family, so dispatch, `explain_selection`, tests and benchmarks all read one list.
#pragma once

#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace fastconv {

struct ConvArgs {
    const void* src;     // forward: x; transposed: y
    const void* weight;  // (K, C/groups, kernel...)
    const void* bias;    // dst_channels() values, or null
    void* dst;           // forward: y; transposed: x
};

struct ConvImpl {
    const char* name;
    Algo algo;
    // Empty when the implementation accepts the problem, else the reason it declines.
    std::string (*declines)(const ConvProblem& problem);
    void (*run)(const ConvProblem& problem, const ConvArgs& args);
};

const std::vector<ConvImpl>& conv_registry();

// The entry run_conv uses; throws InvalidArgument when no entry of the family accepts.
const ConvImpl& select_impl(const ConvProblem& problem, Algo algo);

// Declared by the algorithm files, listed in order by registry.cpp.
extern const ConvImpl gemm_1x1_impl;
extern const ConvImpl im2col_gemm_impl;
extern const ConvImpl gemm_col2im_impl;
extern const ConvImpl direct_forward_impl;
extern const ConvImpl direct_transposed_impl;
extern const ConvImpl reference_impl;

}  // namespace fastconv
