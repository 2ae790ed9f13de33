// The packed GEMM (gemm/gemm.hpp) with every microkernel this CPU can run, whatever
// FASTCONV_MAX_ISA says: sizes around the register tiles and the cache blocks, both accumulate
// modes, row-major / transposed / strided operand views and a padded C, against a triple loop in
// double. Then the bitwise determinism the convolutions rely on: repeated runs, and C computed in
// pieces, match the whole.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <vector>

#include "gemm/gemm.hpp"
#include "kernels/gemm_ukernels.hpp"

namespace fastconv::gemm {
namespace {

template <typename T>
std::vector<const Ukernel<T>*> runnable_ukernels() {
    std::vector<const Ukernel<T>*> list;
    for (const Ukernel<T>& ukernel : ukernels<T>())
        if (ukernel.isa <= detected_isa()) list.push_back(&ukernel);
    return list;
}

enum class Layout { row_major, col_major, strided };
const Layout kLayouts[] = {Layout::row_major, Layout::col_major, Layout::strided};

const char* layout_name(Layout layout) {
    switch (layout) {
        case Layout::row_major:
            return "row-major";
        case Layout::col_major:
            return "column-major";
        case Layout::strided:
            return "strided";
    }
    return "?";
}

// A rows x cols operand with padded leading dimensions. Everything outside the matrix is NaN, so
// packing that reads a wrong element poisons the result.
template <typename T>
struct Operand {
    std::vector<T> storage;
    ConstMatrix<T> view;
    T at(int64_t i, int64_t j) const { return view.data[i * view.row_stride + j * view.col_stride]; }
};

template <typename T>
Operand<T> make_operand(int64_t rows, int64_t cols, Layout layout, std::mt19937& rng) {
    int64_t row_stride = 0, col_stride = 0, size = 0;
    switch (layout) {
        case Layout::row_major:
            row_stride = cols + 3, col_stride = 1, size = rows * row_stride;
            break;
        case Layout::col_major:
            row_stride = 1, col_stride = rows + 2, size = cols * col_stride;
            break;
        case Layout::strided:
            row_stride = 2 * cols + 5, col_stride = 2, size = rows * row_stride;
            break;
    }
    Operand<T> op;
    op.storage.assign(std::max<int64_t>(size, 1), std::numeric_limits<T>::quiet_NaN());
    op.view = {op.storage.data(), row_stride, col_stride};
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) op.storage[i * row_stride + j * col_stride] = static_cast<T>(dist(rng));
    return op;
}

// Runs one product through gemm_with and compares with the double-precision reference: every
// element within a rounding bound scaled by K and the magnitudes summed, and C's padding columns and
// the row after C untouched.
template <typename T>
::testing::AssertionResult check_product(const Ukernel<T>& ukernel, int64_t M, int64_t N, int64_t K, Layout a_layout,
                                         Layout b_layout, bool accumulate, std::mt19937& rng) {
    const Operand<T> a = make_operand<T>(M, K, a_layout, rng);
    const Operand<T> b = make_operand<T>(K, N, b_layout, rng);
    const int64_t ldc = N + 3;
    const T sentinel = T(7.25);
    std::vector<T> c((M + 1) * ldc, sentinel);
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j)
            c[i * ldc + j] = accumulate ? static_cast<T>(dist(rng)) : std::numeric_limits<T>::quiet_NaN();
    const std::vector<T> before = c;

    gemm_with(ukernel, M, N, K, a.view, b.view, c.data(), ldc, accumulate);

    const double eps = std::numeric_limits<T>::epsilon();
    for (int64_t i = 0; i <= M; ++i) {
        for (int64_t j = 0; j < ldc; ++j) {
            const T got = c[i * ldc + j];
            if (i == M || j >= N) {
                if (std::memcmp(&got, &before[i * ldc + j], sizeof(T)) != 0)
                    return ::testing::AssertionFailure()
                           << "padding of C at (" << i << ", " << j << ") changed to " << got;
                continue;
            }
            double expected = accumulate ? static_cast<double>(before[i * ldc + j]) : 0.0;
            double magnitude = std::abs(expected);
            for (int64_t p = 0; p < K; ++p) {
                const double term = static_cast<double>(a.at(i, p)) * static_cast<double>(b.at(p, j));
                expected += term;
                magnitude += std::abs(term);
            }
            const double tolerance = (K + 2) * eps * magnitude;
            if (!(std::abs(got - expected) <= tolerance))
                return ::testing::AssertionFailure() << "C(" << i << ", " << j << ") = " << got << ", expected "
                                                     << expected << " within " << tolerance;
        }
    }
    return ::testing::AssertionSuccess();
}

std::vector<int64_t> around_tile(int64_t tile) {
    std::vector<int64_t> sizes{1, tile - 1, tile, tile + 1, 2 * tile + 3};
    sizes.erase(std::remove(sizes.begin(), sizes.end(), 0), sizes.end());
    return sizes;
}

template <typename T>
class GemmTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(GemmTest, ElementTypes);

TYPED_TEST(GemmTest, UkernelListIsOrderedAndEndsWithScalar) {
    using T = TypeParam;
    const auto& list = ukernels<T>();
    ASSERT_FALSE(list.empty());
    EXPECT_EQ(list.back().isa, Isa::scalar);
    const std::vector<Isa> compiled = compiled_isas();
    for (size_t k = 0; k < list.size(); ++k) {
        SCOPED_TRACE(list[k].name);
        EXPECT_NE(std::string(list[k].name).find(isa_name(list[k].isa)), std::string::npos);
        EXPECT_NE(std::find(compiled.begin(), compiled.end(), list[k].isa), compiled.end());
        EXPECT_GE(list[k].mr, 1);
        EXPECT_GE(list[k].nr, 1);
        EXPECT_LE(list[k].mr * list[k].nr, kMaxTileElements);
        // Best ISA first; within an ISA its main kernel, then at most one narrower one.
        if (k > 0 && list[k].isa == list[k - 1].isa) {
            EXPECT_LT(list[k].nr, list[k - 1].nr);
            EXPECT_TRUE(k < 2 || list[k - 2].isa != list[k].isa);
        } else if (k > 0) {
            EXPECT_LT(list[k].isa, list[k - 1].isa);
        }
    }
}

TYPED_TEST(GemmTest, NarrowUkernelIsTheActiveIsasOneVectorSibling) {
    using T = TypeParam;
    const Ukernel<T>* narrow = active_narrow_ukernel<T>();
    const Ukernel<T>& main = active_ukernel<T>();
    if (narrow == nullptr) {
        for (const Ukernel<T>& ukernel : ukernels<T>()) EXPECT_FALSE(ukernel.isa == main.isa && ukernel.nr < main.nr);
        return;
    }
    EXPECT_EQ(narrow->isa, main.isa);
    EXPECT_EQ(2 * narrow->nr, main.nr);
    EXPECT_GT(narrow->mr, main.mr);
}

TYPED_TEST(GemmTest, ActiveUkernelIsTheBestTheActiveIsaAllows) {
    using T = TypeParam;
    const Ukernel<T>* expected = nullptr;
    for (const Ukernel<T>& ukernel : ukernels<T>())
        if (!expected && ukernel.isa <= active_isa()) expected = &ukernel;
    EXPECT_EQ(&active_ukernel<T>(), expected);
}

TYPED_TEST(GemmTest, MatchesReferenceAroundTilesAndKBlocks) {
    using T = TypeParam;
    for (const Ukernel<T>* ukernel : runnable_ukernels<T>()) {
        const int64_t kc = blocking_for(ukernel->mr, ukernel->nr, sizeof(T)).kc;
        std::mt19937 rng(1234);
        for (int64_t M : around_tile(ukernel->mr))
            for (int64_t N : around_tile(ukernel->nr))
                for (int64_t K : {int64_t(0), int64_t(1), int64_t(7), kc - 1, kc, kc + 1, 2 * kc + 5})
                    for (Layout a_layout : kLayouts)
                        for (Layout b_layout : kLayouts)
                            for (bool accumulate : {false, true}) {
                                ASSERT_TRUE(check_product(*ukernel, M, N, K, a_layout, b_layout, accumulate, rng))
                                    << ukernel->name << " M=" << M << " N=" << N << " K=" << K
                                    << " A " << layout_name(a_layout) << " B " << layout_name(b_layout)
                                    << (accumulate ? " accumulating" : " overwriting");
                            }
    }
}

TYPED_TEST(GemmTest, MatchesReferenceAcrossCacheBlocks) {
    using T = TypeParam;
    for (const Ukernel<T>* ukernel : runnable_ukernels<T>()) {
        const Blocking blocking = blocking_for(ukernel->mr, ukernel->nr, sizeof(T));
        const int64_t M = blocking.mc + ukernel->mr + 1, N = blocking.nc + ukernel->nr + 1, K = blocking.kc + 1;
        std::mt19937 rng(99);
        SCOPED_TRACE(ukernel->name);
        EXPECT_TRUE(check_product(*ukernel, M, N, K, Layout::row_major, Layout::row_major, true, rng));
        EXPECT_TRUE(check_product(*ukernel, M, N, K, Layout::col_major, Layout::col_major, false, rng));
        // A short reduction (a 1x1 layer's): tiles visited along C's rows, across every block.
        EXPECT_TRUE(check_product(*ukernel, M, N, 64, Layout::row_major, Layout::row_major, false, rng));
        EXPECT_TRUE(check_product(*ukernel, M, N, 63, Layout::col_major, Layout::strided, true, rng));
        // Column-major A against one sliver of B: A's blocks are copied column by column, not packed.
        EXPECT_TRUE(check_product(*ukernel, M, ukernel->nr, K, Layout::col_major, Layout::row_major, false, rng));
        EXPECT_TRUE(check_product(*ukernel, M, 3, 2 * K, Layout::col_major, Layout::strided, true, rng));
    }
}

// Column-major A's blocks are copied column by column when B is a single sliver and packed into
// slivers otherwise; either way the microkernel does the same arithmetic, so the columns of a
// product with one sliver of B equal, bit for bit, the same columns of a product with many.
TYPED_TEST(GemmTest, ColumnMajorAGivesTheSameBitsCopiedOrPacked) {
    using T = TypeParam;
    for (const Ukernel<T>* ukernel : runnable_ukernels<T>()) {
        SCOPED_TRACE(ukernel->name);
        const Blocking blocking = blocking_for(ukernel->mr, ukernel->nr, sizeof(T));
        const int64_t M = blocking.mc + 2 * ukernel->mr + 3, K = blocking.kc + 17, wide = 3 * ukernel->nr + 2;
        std::mt19937 rng(11);
        const Operand<T> a = make_operand<T>(M, K, Layout::col_major, rng);
        const Operand<T> b = make_operand<T>(K, wide, Layout::row_major, rng);
        for (int64_t narrow : {int64_t(1), int64_t(ukernel->nr - 1), int64_t(ukernel->nr)}) {
            std::vector<T> packed(M * wide), copied(M * narrow);
            gemm_with<T>(*ukernel, M, wide, K, a.view, b.view, packed.data(), wide, false);
            gemm_with<T>(*ukernel, M, narrow, K, a.view, b.view, copied.data(), narrow, false);
            for (int64_t i = 0; i < M; ++i)
                ASSERT_EQ(std::memcmp(&packed[i * wide], &copied[i * narrow], narrow * sizeof(T)), 0)
                    << "row " << i << " of a product " << narrow << " columns wide";
        }
    }
}

TYPED_TEST(GemmTest, EmptyProductsTouchOnlyWhatTheyShould) {
    using T = TypeParam;
    const T a[4] = {1, 2, 3, 4};
    for (const Ukernel<T>* ukernel : runnable_ukernels<T>()) {
        SCOPED_TRACE(ukernel->name);
        std::vector<T> c(6, T(5));
        gemm_with<T>(*ukernel, 2, 3, 0, {a, 1, 1}, {a, 1, 1}, c.data(), 3, true);
        EXPECT_EQ(c, std::vector<T>(6, T(5)));
        gemm_with<T>(*ukernel, 2, 3, 0, {a, 1, 1}, {a, 1, 1}, c.data(), 3, false);
        EXPECT_EQ(c, std::vector<T>(6, T(0)));
        std::fill(c.begin(), c.end(), T(5));
        gemm_with<T>(*ukernel, 0, 3, 2, {a, 1, 1}, {a, 1, 1}, c.data(), 3, false);
        gemm_with<T>(*ukernel, 2, 0, 2, {a, 1, 1}, {a, 1, 1}, c.data(), 3, false);
        EXPECT_EQ(c, std::vector<T>(6, T(5)));
    }
}

// A product large enough to use every level of blocking, run whole and then in pieces cut at
// places that are not multiples of the tile or block sizes.
TYPED_TEST(GemmTest, ResultsAreBitwiseReproducibleAndIndependentOfHowCIsCut) {
    using T = TypeParam;
    for (const Ukernel<T>* ukernel : runnable_ukernels<T>()) {
        SCOPED_TRACE(ukernel->name);
        const Blocking blocking = blocking_for(ukernel->mr, ukernel->nr, sizeof(T));
        const int64_t M = 2 * ukernel->mr + 5, N = blocking.nc + 3 * ukernel->nr + 7, K = 2 * blocking.kc + 9;
        std::mt19937 rng(7);
        const Operand<T> a = make_operand<T>(M, K, Layout::row_major, rng);
        const Operand<T> b = make_operand<T>(K, N, Layout::row_major, rng);
        const Operand<T> c0 = make_operand<T>(M, N, Layout::row_major, rng);
        const int64_t ldc = c0.view.row_stride;

        std::vector<T> whole = c0.storage, again = c0.storage, pieces = c0.storage;
        gemm_with(*ukernel, M, N, K, a.view, b.view, whole.data(), ldc, true);
        gemm_with(*ukernel, M, N, K, a.view, b.view, again.data(), ldc, true);
        EXPECT_EQ(std::memcmp(whole.data(), again.data(), whole.size() * sizeof(T)), 0);

        const int64_t row_cuts[] = {0, 3, M};
        const int64_t col_cuts[] = {0, 13, 13 + ukernel->nr + 5, N};
        for (int r = 0; r + 1 < 3; ++r) {
            for (int s = 0; s + 1 < 4; ++s) {
                const int64_t i0 = row_cuts[r], j0 = col_cuts[s];
                const ConstMatrix<T> a_rows{a.view.data + i0 * a.view.row_stride, a.view.row_stride, a.view.col_stride};
                const ConstMatrix<T> b_cols{b.view.data + j0 * b.view.col_stride, b.view.row_stride, b.view.col_stride};
                gemm_with(*ukernel, row_cuts[r + 1] - i0, col_cuts[s + 1] - j0, K, a_rows, b_cols,
                          pieces.data() + i0 * ldc + j0, ldc, true);
            }
        }
        EXPECT_EQ(std::memcmp(whole.data(), pieces.data(), whole.size() * sizeof(T)), 0);
    }
}

// gemm() takes the narrow kernel for a C at most its NR columns wide: every element is one FMA
// chain over k in order in either kernel, so a narrow product equals, bit for bit, the same
// columns computed by the main kernel (directly, or as part of a wider product).
TYPED_TEST(GemmTest, NarrowProductsGiveTheMainUkernelsBits) {
    using T = TypeParam;
    const Ukernel<T>* narrow = active_narrow_ukernel<T>();
    if (narrow == nullptr) GTEST_SKIP() << "the active ISA has no narrow kernel";
    const Ukernel<T>& main = active_ukernel<T>();
    const int64_t M = 2 * narrow->mr + 3 * main.mr + 5, K = blocking_for(narrow->mr, narrow->nr, sizeof(T)).kc + 37;
    std::mt19937 rng(17);
    for (Layout a_layout : kLayouts) {
        SCOPED_TRACE(layout_name(a_layout));
        const Operand<T> a = make_operand<T>(M, K, a_layout, rng);
        const Operand<T> b = make_operand<T>(K, main.nr + 3, Layout::row_major, rng);
        const Operand<T> c0 = make_operand<T>(M, main.nr + 3, Layout::row_major, rng);
        const int64_t ldc = c0.view.row_stride;
        for (int64_t N : {int64_t(1), int64_t(narrow->nr - 1), int64_t(narrow->nr)}) {
            for (bool accumulate : {false, true}) {
                std::vector<T> via_gemm = c0.storage, via_main = c0.storage, via_narrow = c0.storage;
                gemm<T>(M, N, K, a.view, b.view, via_gemm.data(), ldc, accumulate);
                gemm_with<T>(main, M, N, K, a.view, b.view, via_main.data(), ldc, accumulate);
                gemm_with<T>(*narrow, M, N, K, a.view, b.view, via_narrow.data(), ldc, accumulate);
                EXPECT_EQ(std::memcmp(via_gemm.data(), via_narrow.data(), via_gemm.size() * sizeof(T)), 0)
                    << "N=" << N;
                EXPECT_EQ(std::memcmp(via_main.data(), via_narrow.data(), via_main.size() * sizeof(T)), 0)
                    << "N=" << N;
            }
        }
    }
}

TYPED_TEST(GemmTest, GemmDispatchesToTheActiveUkernel) {
    using T = TypeParam;
    const int64_t M = 19, N = 45, K = 300;
    std::mt19937 rng(3);
    const Operand<T> a = make_operand<T>(M, K, Layout::row_major, rng);
    const Operand<T> b = make_operand<T>(K, N, Layout::col_major, rng);
    std::vector<T> via_gemm(M * N), via_active(M * N);
    gemm<T>(M, N, K, a.view, b.view, via_gemm.data(), N, false);
    gemm_with<T>(active_ukernel<T>(), M, N, K, a.view, b.view, via_active.data(), N, false);
    EXPECT_EQ(std::memcmp(via_gemm.data(), via_active.data(), via_gemm.size() * sizeof(T)), 0);
}

}  // namespace
}  // namespace fastconv::gemm
