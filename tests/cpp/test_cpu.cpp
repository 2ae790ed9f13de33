// Runtime ISA detection and the FASTCONV_MAX_ISA cap (fastconv.hpp). The cap is read once per
// process, so the tests of particular values run in a fresh child process (gtest's threadsafe death
// test style re-executes the binary) with the variable set; the plain tests check whatever value
// this process was started with, which scripts/test.sh varies over every ISA.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fastconv/fastconv.hpp"

namespace fastconv {
namespace {

// Sets an environment variable for the scope and restores the previous state afterwards.
class ScopedEnv {
   public:
    ScopedEnv(const char* name, const std::string& value) : name_(name) {
        if (const char* old = std::getenv(name)) {
            had_value_ = true;
            old_value_ = old;
        }
        setenv(name, value.c_str(), 1);
    }
    ~ScopedEnv() {
        if (had_value_)
            setenv(name_, old_value_.c_str(), 1);
        else
            unsetenv(name_);
    }

   private:
    const char* name_;
    bool had_value_ = false;
    std::string old_value_;
};

[[noreturn]] void exit_checked(bool ok, const std::string& failure) {
    if (!ok) std::fprintf(stderr, "%s\n", failure.c_str());
    std::exit(ok ? 0 : 1);
}

TEST(Isa, ActiveNeverExceedsDetected) { EXPECT_LE(active_isa(), detected_isa()); }

TEST(Isa, CompiledIsasStartWithScalarAndCoverDetection) {
    const std::vector<Isa> compiled = compiled_isas();
    ASSERT_FALSE(compiled.empty());
    EXPECT_EQ(compiled.front(), Isa::scalar);
    EXPECT_TRUE(std::is_sorted(compiled.begin(), compiled.end()));
    EXPECT_LE(detected_isa(), compiled.back());
}

TEST(Isa, NamesAreTheEnvironmentValues) {
    EXPECT_STREQ(isa_name(Isa::scalar), "scalar");
    EXPECT_STREQ(isa_name(Isa::neon), "neon");
    EXPECT_STREQ(isa_name(Isa::avx2), "avx2");
    EXPECT_STREQ(isa_name(Isa::avx512), "avx512");
}

TEST(Isa, ActiveFollowsTheEnvironmentOfThisProcess) {
    const char* env = std::getenv("FASTCONV_MAX_ISA");
    const std::string value = env ? env : "";
    Isa expected = detected_isa();
    bool known = value.empty();
    for (Isa isa : {Isa::scalar, Isa::neon, Isa::avx2, Isa::avx512}) {
        if (value == isa_name(isa)) {
            // The best ISA this build compiled within the cap (neon caps x86-64 at scalar).
            for (Isa compiled : compiled_isas())
                if (compiled <= std::min(detected_isa(), isa)) expected = compiled;
            known = true;
        }
    }
    EXPECT_EQ(active_isa(), expected) << "FASTCONV_MAX_ISA=" << value;
    if (known)
        EXPECT_EQ(isa_override_warning(), "");
    else
        EXPECT_NE(isa_override_warning().find("'" + value + "'"), std::string::npos) << isa_override_warning();
}

TEST(IsaDeathTest, EachNameCapsTheActiveIsa) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    for (Isa cap : compiled_isas()) {
        ScopedEnv env("FASTCONV_MAX_ISA", isa_name(cap));
        // Only the child evaluates this; its first call reads the variable set just above.
        EXPECT_EXIT(exit_checked(active_isa() == std::min(cap, detected_isa()) && isa_override_warning().empty(),
                                 std::string("active ") + isa_name(active_isa()) + ", warning '" +
                                     isa_override_warning() + "'"),
                    ::testing::ExitedWithCode(0), "")
            << "FASTCONV_MAX_ISA=" << isa_name(cap);
    }
}

TEST(IsaDeathTest, UnknownValueIsIgnoredAndReported) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    ScopedEnv env("FASTCONV_MAX_ISA", "avx1024");
    EXPECT_EXIT(exit_checked(active_isa() == detected_isa() &&
                                 isa_override_warning().find("'avx1024'") != std::string::npos &&
                                 isa_override_warning().find("scalar, neon, avx2, avx512") != std::string::npos,
                             "warning '" + isa_override_warning() + "'"),
                ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace fastconv
