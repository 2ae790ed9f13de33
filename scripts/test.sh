#!/usr/bin/env bash
# Runs every test of fastconv on this machine, from a clean checkout: installs what the tests need
# (GoogleTest from Debian, PyTorch 2.13 CPU as the reference, pytest, hypothesis), builds and installs
# the package, builds the C++ tests, then runs ctest and pytest once per instruction set this CPU
# supports (FASTCONV_MAX_ISA), so every compiled ISA path is exercised, then the aarch64 build's C++
# tests under qemu-user (scripts/cross_aarch64.sh) and the sanitizer and fuzzing run
# (scripts/sanitize.sh). Fails on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

if [ ! -f /usr/include/gtest/gtest.h ] && [ ! -f /usr/local/include/gtest/gtest.h ]; then
    echo "== installing GoogleTest (libgtest-dev)"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libgtest-dev >/dev/null
fi

echo "== installing Python test requirements"
$PYTHON -m pip install -q --disable-pip-version-check "torch==2.13.0" "pytest>=7" "hypothesis>=6.80" \
    "numpy>=1.22" "scikit-build-core>=0.10" "pybind11>=2.12" "pillow>=9"

echo "== building and installing fastconv"
$PYTHON -m pip install -q --disable-pip-version-check --no-build-isolation .

echo "== building the C++ tests"
cmake -S . -B build/cpp -DCMAKE_BUILD_TYPE=Release -DFASTCONV_BUILD_TESTS=ON -DFASTCONV_CUDA=OFF >/dev/null
cmake --build build/cpp -j "$JOBS"

# The ISAs compiled into the package that this CPU can run, scalar first.
ISAS=$(cd /tmp && $PYTHON -c "
import fastconv._core as c
order = c.compiled_isas()
print(' '.join(order[: order.index(c.detected_isa()) + 1]))")
echo "== instruction sets to test: $ISAS"

for isa in $ISAS; do
    echo "== ctest with FASTCONV_MAX_ISA=$isa"
    FASTCONV_MAX_ISA=$isa ctest --test-dir build/cpp --output-on-failure -j "$JOBS"
done
for isa in $ISAS; do
    echo "== pytest with FASTCONV_MAX_ISA=$isa"
    FASTCONV_MAX_ISA=$isa $PYTHON -m pytest tests/python -q -p no:cacheprovider
done
echo "== C++ package: cmake --install, then find_package(fastconv) from a consumer project"
rm -rf build/prefix build/consumer
cmake --install build/cpp --prefix build/prefix >/dev/null
cmake -S tests/cpp/consumer -B build/consumer -DCMAKE_PREFIX_PATH="$PWD/build/prefix" >/dev/null
cmake --build build/consumer -j "$JOBS" >/dev/null
build/consumer/consumer
# The aarch64 build, cross-compiled and its C++ tests run under qemu-user (scripts/cross_aarch64.sh);
# AARCH64=0 skips.
if [ "${AARCH64:-1}" != 0 ] && [ "$(uname -m)" = x86_64 ]; then
    JOBS="$JOBS" bash scripts/cross_aarch64.sh
fi
# ASan + UBSan + LSan ctest per ISA and a bounded libFuzzer run (docs/reliability.md); SANITIZE=0 skips.
if [ "${SANITIZE:-1}" != 0 ]; then
    ISAS="$ISAS" PYTHON="$PYTHON" JOBS="$JOBS" bash scripts/sanitize.sh
fi
echo "== all tests passed"
