// libFuzzer target on the C++ entry points that validate parameters and compute sizes:
// conv_output_size, conv_transpose_output_size, make_conv_problem, make_conv_transpose_problem and
// make_unfold_problem. Each input decodes to a geometry whose integers are drawn from small values
// and from the edges of int64 (2^31, 2^32, 2^62, 2^63 - 1, negatives), so validation meets every
// overflow it must catch. It checks that
//   - only InvalidArgument comes out (ASan/UBSan, built in, catch crashes and signed overflow),
//   - an accepted size equals the documented formula evaluated in 128-bit arithmetic, and an
//     accepted problem's element and byte counts fit int64;
//   - an accepted problem small enough to run does run, under every algo and both layouts, and
//     matches the reference within float rounding (ASan sees any write outside the output).
// Built by -DFASTCONV_BUILD_FUZZERS=ON with clang; scripts/sanitize.sh runs it for a bounded time.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "fastconv/fastconv.hpp"

using namespace fastconv;

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// Consumes the fuzz input front to back; past its end every read is 0.
struct Reader {
    const uint8_t* data;
    size_t size;
    uint8_t byte() {
        if (size == 0) return 0;
        --size;
        return *data++;
    }
    // Mostly small values (what layers use), sometimes an edge of the integer range.
    int64_t value() {
        static constexpr int64_t kEdges[] = {0,        -1,           kMax,        kMax - 1,    kMin,
                                             1LL << 31, (1LL << 31) - 1, 1LL << 32, 1LL << 62, (1LL << 62) + 1,
                                             3037000500LL /* ~sqrt(2^63) */};
        const uint8_t b = byte();
        if (b < 200) return b % 8;
        if (b < 240) return b - 200;
        return kEdges[b % (sizeof(kEdges) / sizeof(kEdges[0]))];
    }
    std::vector<int64_t> values(int count) {
        std::vector<int64_t> out;
        for (int i = 0; i < count; ++i) out.push_back(value());
        return out;
    }
};

void require(bool condition) {
    if (!condition) std::abort();  // a libFuzzer crash: the input is saved as a reproducer
}

using i128 = __int128;

// Calls `size` and reports whether it threw InvalidArgument (anything else escapes: a finding).
template <typename Fn>
bool refuses(Fn&& size, int64_t& result) {
    try {
        result = size();
        return false;
    } catch (const InvalidArgument&) {
        return true;
    }
}

// Refused exactly when an argument is out of range, a sum overflows int64 or the output is empty;
// otherwise exactly the formula.
void check_output_size(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pa, int64_t d) {
    int64_t got = 0;
    const bool refused = refuses([&] { return conv_output_size(in, k, s, pb, pa, d); }, got);
    if (in < 0 || k < 1 || s < 1 || d < 1) {
        require(refused);
        return;
    }
    // Magnitudes below 2^126: no 128-bit overflow.
    const i128 partial = i128(in) + pb, padded = partial + pa, extent = i128(d) * (i128(k) - 1) + 1;
    const bool overflows = partial > kMax || partial < kMin || padded > kMax || padded < kMin || extent > kMax;
    require(refused == (overflows || padded < extent));
    if (!refused) require(i128(got) == (padded - extent) / s + 1);
}

void check_transpose_size(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pa, int64_t op, int64_t d) {
    int64_t got = 0;
    const bool refused = refuses([&] { return conv_transpose_output_size(in, k, s, pb, pa, op, d); }, got);
    if (in < 1 || k < 1 || s < 1 || d < 1 || pb < 0 || pa < 0 || op < 0 || (op >= s && op >= d)) {
        require(refused);
        return;
    }
    // Every term is non-negative and below 2^126, so the sum stays below 2^127.
    const i128 stretched = (i128(in) - 1) * s, dilated = i128(d) * (i128(k) - 1);
    const i128 unpadded = stretched + dilated + op + 1;
    const bool overflows = stretched > kMax || dilated > kMax || stretched + dilated > kMax || unpadded > kMax;
    const i128 exact = unpadded - pb - pa;
    require(refused == (overflows || exact < 1));
    if (!refused) require(i128(got) == exact);
}

// Every count the kernels index with fits int64, and so do the byte counts.
void check_counts(const ConvProblem& p) {
    for (int64_t count : {p.x_elements(), p.y_elements(), p.weight_elements()}) {
        require(count >= 0);
        require(i128(count) * dtype_size(p.dtype) <= kMax);
    }
    require(p.in_channels % p.groups == 0 && p.out_channels % p.groups == 0);
    for (int d = 0; d < kMaxSpatialDims; ++d) require(p.out_size[d] >= 1 && p.kernel[d] >= 1 && p.stride[d] >= 1);
}

// Runs a small accepted problem under every algo and layout against the reference.
void run_small(const ConvProblem& problem, Reader& r) {
    if (problem.x_elements() > 4096 || problem.y_elements() > 4096 || problem.weight_elements() > 4096 ||
        problem.dst_channels() > 4096 || problem.flops() > 4e5)
        return;
    std::vector<double> src(problem.src_elements()), w(problem.weight_elements()), b(problem.dst_channels()),
        dst_ref(problem.dst_elements());
    for (double& v : src) v = double(int(r.byte() % 7) - 3);
    for (double& v : w) v = double(int(r.byte() % 5) - 2);
    for (double& v : b) v = double(int(r.byte() % 3) - 1);
    for (Layout layout : {Layout::channels_first, Layout::channels_last}) {
        ConvProblem p = problem;
        p.layout = layout;
        p.dtype = DType::f64;  // the buffers hold doubles
        run_conv(p, Algo::reference, src.data(), w.data(), b.data(), dst_ref.data());
        for (Algo algo : {Algo::automatic, Algo::direct, Algo::im2col}) {
            for (DType dtype : {DType::f64, DType::f32}) {
                p.dtype = dtype;
                std::vector<double> out(problem.dst_elements(), std::nan(""));
                if (dtype == DType::f64) {
                    run_conv(p, algo, src.data(), w.data(), b.data(), out.data());
                } else {
                    std::vector<float> s(src.begin(), src.end()), wf(w.begin(), w.end()), bf(b.begin(), b.end()),
                        o(out.size(), std::nanf(""));
                    run_conv(p, algo, s.data(), wf.data(), bf.data(), o.data());
                    std::copy(o.begin(), o.end(), out.begin());
                }
                // Small integers: every partial sum is exact in float32, so results must be equal.
                for (size_t i = 0; i < out.size(); ++i) {
                    if (out[i] == dst_ref[i]) continue;
                    std::fprintf(stderr, "mismatch at %zu: %g, reference %g; %s, algo %s (%s)\n", i, out[i], dst_ref[i],
                                 p.describe().c_str(), algo_name(algo), selected_impl(p, algo).c_str());
                    std::abort();
                }
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Reader r{data, size};
    const uint8_t mode = r.byte() % 5;
    if (mode == 0) {
        const auto v = r.values(6);
        check_output_size(v[0], v[1], v[2], v[3], v[4], v[5]);
        return 0;
    }
    if (mode == 1) {
        const auto v = r.values(7);
        check_transpose_size(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
        return 0;
    }
    const int ndim = 1 + r.byte() % 3;
    // Shapes usually have the right rank; sometimes not, to reach the rank checks.
    const int rank = r.byte() < 240 ? ndim + 2 : r.byte() % 6;
    const DType dtype = r.byte() & 1 ? DType::f64 : DType::f32;
    ConvParams params;
    params.groups = r.value();
    const int params_rank = r.byte() < 245 ? ndim : r.byte() % 4;
    params.stride = r.values(params_rank);
    params.dilation = r.values(params_rank);
    params.pad_before = r.values(params_rank);
    params.pad_after = r.values(params_rank);
    try {
        ConvProblem p;
        if (mode == 4) {
            params.groups = r.byte() < 250 ? 1 : params.groups;
            const int64_t batch = r.value(), channels = r.value();
            p = make_unfold_problem(dtype, batch, channels, r.values(params_rank), r.values(params_rank), params);
            check_counts(p);
            if (p.x_elements() <= 4096 && i128(p.batch) * p.in_channels * p.kernel_spatial() * p.out_spatial() <= 65536) {
                std::vector<double> x(p.x_elements(), 1.0), columns(p.batch * p.gemm_k() * p.out_spatial()), back(x.size());
                unfold(p, x.data(), columns.data());
                fold(p, columns.data(), back.data());
            }
            return 0;
        }
        const std::vector<int64_t> x_shape = r.values(rank), w_shape = r.values(rank);
        if (mode == 2) {
            p = make_conv_problem(dtype, x_shape, w_shape, params);
        } else {
            params.output_padding = r.values(params_rank);
            p = make_conv_transpose_problem(dtype, x_shape, w_shape, params);
        }
        check_counts(p);
        run_small(p, r);
    } catch (const InvalidArgument&) {
        // The documented way to refuse a geometry.
    }
    return 0;
}
