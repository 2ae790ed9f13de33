// Runs one small convolution through the installed C++ API and checks a hand-computed value.
#include <cstdio>
#include <vector>

#include "fastconv/fastconv.hpp"

int main() {
    using namespace fastconv;
    // x = 1..9 as a 3x3 image, a 2x2 kernel of ones: y[0][0] = 1 + 2 + 4 + 5 = 12.
    const ConvProblem p = make_conv_problem(DType::f32, {1, 1, 3, 3}, {1, 1, 2, 2}, ConvParams{{1, 1}, {1, 1}, {0, 0}, {0, 0}, {}, 1});
    std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9}, w(4, 1.0f), y(p.y_elements());
    run_conv(p, Algo::automatic, x.data(), w.data(), nullptr, y.data());
    const bool ok = y.size() == 4 && y[0] == 12 && y[1] == 16 && y[2] == 24 && y[3] == 28;
    std::printf("fastconv %s from find_package: %s\n", version(), ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
}
