// The CUDA seam (fastconv/cuda.hpp) from C++. Without CUDA in the build: no devices, and device
// calls throw NotCompiled. With CUDA but no device: no devices, queries never throw. With a device:
// every GPU algo against the CPU reference on a small table of shapes (strides, dilation, padding,
// groups, depthwise, 1x1, 1-D/3-D, transposed with output_padding), float32 and float64, plus
// unfold/fold; these skip cleanly where no GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "fastconv/cuda.hpp"
#include "fastconv/fastconv.hpp"

namespace fastconv {
namespace {

TEST(CudaSeam, QueriesNeverThrow) {
    const int count = cuda::device_count();
    EXPECT_GE(count, 0);
    EXPECT_EQ(cuda_device_count(), count);
    EXPECT_EQ(cuda_compiled(), cuda::compiled());
    if (!cuda::compiled()) EXPECT_EQ(count, 0);
    EXPECT_EQ(cuda::kWorkspaceCapBytes, std::size_t(64) << 20);
}

TEST(CudaSeam, WithoutCudaEveryDeviceCallSaysSo) {
    if (cuda::compiled()) GTEST_SKIP() << "built with CUDA";
    const ConvProblem p = make_conv_problem(DType::f32, {1, 1, 3, 3}, {1, 1, 1, 1}, ConvParams{{1, 1}, {1, 1}, {0, 0}, {0, 0}, {}, 1});
    EXPECT_THROW(cuda::run_conv(p, Algo::automatic, nullptr, nullptr, nullptr, nullptr, 0, cuda::kLegacyStream, {}),
                 cuda::NotCompiled);
    EXPECT_THROW(cuda::allocate(16, 0, cuda::kLegacyStream), cuda::NotCompiled);
    EXPECT_THROW(cuda::device_name(0), cuda::NotCompiled);
    EXPECT_TRUE(cuda::implementations().empty());
}

struct Case {
    bool transposed;
    std::vector<int64_t> x, w, stride, dilation, pad_before, pad_after, output_padding;
    int64_t groups;
};

const std::vector<Case>& cases() {
    static const std::vector<Case> table{
        {false, {2, 3, 7, 6}, {5, 3, 3, 3}, {1, 1}, {1, 1}, {1, 0}, {0, 1}, {}, 1},
        {false, {1, 6, 9, 8}, {9, 2, 3, 2}, {2, 1}, {1, 2}, {1, 1}, {0, 2}, {}, 3},
        {false, {2, 4, 8, 7}, {8, 1, 3, 3}, {1, 2}, {2, 1}, {2, 1}, {2, 1}, {}, 4},  // depthwise, multiplier 2
        {false, {2, 7, 5, 6}, {9, 7, 1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, {}, 1},  // 1x1
        {false, {2, 3, 50}, {4, 3, 5}, {2}, {3}, {4}, {1}, {}, 1},
        {false, {1, 3, 5, 6, 4}, {4, 3, 3, 2, 3}, {1, 2, 1}, {1, 1, 2}, {1, 0, 2}, {1, 1, 0}, {}, 1},
        {true, {1, 4, 5, 4}, {4, 3, 4, 4}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, 1},
        {true, {1, 3, 4, 4}, {3, 2, 3, 3}, {2, 3}, {1, 1}, {1, 0}, {1, 0}, {1, 2}, 1},
        {true, {2, 4, 3, 5}, {4, 3, 3, 3}, {3, 2}, {2, 3}, {0, 1}, {0, 1}, {1, 2}, 2},
        {true, {1, 2, 3, 3, 3}, {2, 2, 2, 3, 2}, {2, 1, 2}, {1, 2, 1}, {0, 1, 0}, {0, 1, 0}, {1, 0, 0}, 1},
    };
    return table;
}

// Device buffers through the seam itself, so this test needs no CUDA headers.
struct DeviceBuffer {
    void* ptr;
    std::size_t bytes;
    explicit DeviceBuffer(std::size_t n) : ptr(cuda::allocate(n, 0, cuda::kLegacyStream)), bytes(n) {}
    ~DeviceBuffer() { cuda::release(ptr, 0, cuda::kLegacyStream); }
};

template <typename T>
std::vector<T> random_values(int64_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    std::vector<T> values(static_cast<std::size_t>(n));
    for (T& v : values) v = static_cast<T>(dist(rng));
    return values;
}

template <typename T>
std::vector<T> run_on_gpu(const ConvProblem& p, Algo algo, const std::vector<T>& src, const std::vector<T>& w,
                          const std::vector<T>& bias, bool tf32) {
    DeviceBuffer d_src(src.size() * sizeof(T)), d_w(w.size() * sizeof(T)), d_b(bias.size() * sizeof(T)),
        d_dst(static_cast<std::size_t>(p.dst_elements()) * sizeof(T));
    cuda::copy_to_device(d_src.ptr, src.data(), d_src.bytes, 0, cuda::kLegacyStream);
    cuda::copy_to_device(d_w.ptr, w.data(), d_w.bytes, 0, cuda::kLegacyStream);
    cuda::copy_to_device(d_b.ptr, bias.data(), d_b.bytes, 0, cuda::kLegacyStream);
    std::vector<T> dst(static_cast<std::size_t>(p.dst_elements()), std::numeric_limits<T>::quiet_NaN());
    cuda::copy_to_device(d_dst.ptr, dst.data(), d_dst.bytes, 0, cuda::kLegacyStream);  // poisoned
    cuda::Options options;
    options.allow_tf32 = tf32;
    cuda::run_conv(p, algo, d_src.ptr, d_w.ptr, d_b.ptr, d_dst.ptr, 0, cuda::kLegacyStream, options);
    cuda::copy_to_host(dst.data(), d_dst.ptr, d_dst.bytes, 0, cuda::kLegacyStream);
    return dst;
}

template <typename T>
void check_all_algos() {
    for (std::size_t i = 0; i < cases().size(); ++i) {
        const Case& c = cases()[i];
        ConvParams params{c.stride, c.dilation, c.pad_before, c.pad_after, c.output_padding, c.groups};
        const DType dtype = sizeof(T) == 4 ? DType::f32 : DType::f64;
        const ConvProblem p = c.transposed ? make_conv_transpose_problem(dtype, c.x, c.w, params)
                                           : make_conv_problem(dtype, c.x, c.w, params);
        const auto src = random_values<T>(p.src_elements(), 1 + unsigned(i));
        const auto w = random_values<T>(p.weight_elements(), 100 + unsigned(i));
        const auto bias = random_values<T>(p.dst_channels(), 200 + unsigned(i));
        std::vector<T> expected(static_cast<std::size_t>(p.dst_elements()));
        run_conv(p, Algo::reference, src.data(), w.data(), bias.data(), expected.data());
        const int64_t reduction = c.transposed ? p.out_channels_per_group() * p.kernel_spatial() : p.gemm_k();
        for (Algo algo : {Algo::automatic, Algo::direct, Algo::im2col, Algo::reference}) {
            for (bool tf32 : {false, true}) {
                if (tf32 && (dtype != DType::f32 || algo == Algo::reference)) continue;
                SCOPED_TRACE(p.describe() + " algo " + algo_name(algo) + (tf32 ? " tf32" : "") + " via " +
                             cuda::selected_impl(p, algo, cuda::Options{tf32}));
                const auto got = run_on_gpu(p, algo, src, w, bias, tf32);
                const auto again = run_on_gpu(p, algo, src, w, bias, tf32);
                const double eps = tf32 ? std::ldexp(1.0, -10) : std::numeric_limits<T>::epsilon();
                const double bound = (reduction + 2) * eps * (reduction + 1);  // |x|, |w|, |b| <= 1
                for (std::size_t e = 0; e < got.size(); ++e) {
                    ASSERT_FALSE(std::isnan(double(got[e]))) << "element " << e << " never written";
                    ASSERT_LE(std::abs(double(got[e]) - double(expected[e])), bound) << "element " << e;
                    ASSERT_EQ(std::memcmp(&got[e], &again[e], sizeof(T)), 0) << "not deterministic at " << e;
                }
            }
        }
    }
}

TEST(CudaSeam, EveryAlgoMatchesTheCpuReferenceFloat) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    check_all_algos<float>();
}

TEST(CudaSeam, EveryAlgoMatchesTheCpuReferenceDouble) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    check_all_algos<double>();
}

TEST(CudaSeam, UnfoldFoldMatchTheCpu) {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    ConvParams params{{2, 1}, {1, 2}, {1, 0}, {0, 1}, {}, 1};
    const ConvProblem p = make_unfold_problem(DType::f64, 2, 3, {7, 8}, {3, 2}, params);
    const auto x = random_values<double>(p.x_elements(), 7);
    const int64_t columns_size = p.batch * p.gemm_k() * p.out_spatial();
    std::vector<double> expected(static_cast<std::size_t>(columns_size)), got(expected.size());
    unfold(p, x.data(), expected.data());
    DeviceBuffer d_x(x.size() * 8), d_columns(got.size() * 8);
    cuda::copy_to_device(d_x.ptr, x.data(), d_x.bytes, 0, cuda::kLegacyStream);
    cuda::unfold(p, d_x.ptr, d_columns.ptr, 0, cuda::kLegacyStream);
    cuda::copy_to_host(got.data(), d_columns.ptr, d_columns.bytes, 0, cuda::kLegacyStream);
    EXPECT_EQ(got, expected);
    std::vector<double> folded(x.size()), folded_gpu(x.size());
    fold(p, expected.data(), folded.data());
    cuda::fold(p, d_columns.ptr, d_x.ptr, 0, cuda::kLegacyStream);
    cuda::copy_to_host(folded_gpu.data(), d_x.ptr, d_x.bytes, 0, cuda::kLegacyStream);
    for (std::size_t e = 0; e < folded.size(); ++e) EXPECT_NEAR(folded_gpu[e], folded[e], 1e-12);
}

}  // namespace
}  // namespace fastconv
