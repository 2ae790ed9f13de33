#!/usr/bin/env bash
# The aarch64 build: cross-compiles fastconv's C++ library and its C++ tests for 64-bit Arm Linux
# (Debian's g++-aarch64-linux-gnu; the build takes the portable kernels and the NEON GEMM
# microkernels, no x86 ISA file) and runs the whole gtest suite under qemu-user once per ISA
# (FASTCONV_MAX_ISA=scalar, neon).
# The death tests that re-execute the test binary with a new FASTCONV_MAX_ISA cannot run under
# qemu-user without binfmt_misc (execv of an Arm binary fails), so the same checks run from
# outside instead: Isa.* once per value of the variable. Installs the tools when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
OUT=build/aarch64

if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null ||
    [ ! -d /usr/src/googletest ]; then
    echo "== installing the aarch64 cross compiler, qemu-user and GoogleTest's sources"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq g++-aarch64-linux-gnu qemu-user googletest >/dev/null
fi

export GTEST_PREFIX="$PWD/$OUT/gtest"
if [ ! -f "$GTEST_PREFIX/lib/cmake/GTest/GTestConfig.cmake" ]; then
    echo "== building GoogleTest for aarch64"
    cmake -S /usr/src/googletest -B "$OUT/gtest-build" -DCMAKE_TOOLCHAIN_FILE="$PWD/scripts/aarch64-linux-gnu.cmake" \
        -DCMAKE_BUILD_TYPE=Release -DBUILD_GMOCK=OFF -DCMAKE_INSTALL_PREFIX="$GTEST_PREFIX" >/dev/null
    cmake --build "$OUT/gtest-build" -j "$JOBS" >/dev/null
    cmake --install "$OUT/gtest-build" >/dev/null
fi

echo "== cross-building fastconv and its C++ tests for aarch64"
cmake -S . -B "$OUT/cpp" -DCMAKE_TOOLCHAIN_FILE="$PWD/scripts/aarch64-linux-gnu.cmake" -DCMAKE_BUILD_TYPE=Release \
    -DFASTCONV_BUILD_PYTHON=OFF -DFASTCONV_BUILD_TESTS=ON -DFASTCONV_CUDA=OFF \
    -DGTest_DIR="$GTEST_PREFIX/lib/cmake/GTest" >/dev/null
cmake --build "$OUT/cpp" -j "$JOBS"

run() { qemu-aarch64 -L /usr/aarch64-linux-gnu "$OUT/cpp/fastconv_tests" --gtest_brief=1 "$@"; }
for isa in scalar neon; do
    echo "== aarch64 gtest suite under qemu-user, FASTCONV_MAX_ISA=$isa"
    FASTCONV_MAX_ISA=$isa run --gtest_filter='-IsaDeathTest.*'
done
for value in "" scalar neon avx2 avx512 avx1024; do
    echo "== aarch64 Isa.* with FASTCONV_MAX_ISA='$value'"
    FASTCONV_MAX_ISA=$value run --gtest_filter='Isa.*'
done
echo "== aarch64 build passed"
