#!/usr/bin/env bash
# Verifies fastconv's CUDA path on a machine with an NVIDIA GPU, offline (nothing is downloaded: it
# uses the python3 there, with torch + cuDNN, CuPy, pybind11, scikit-build-core, cmake, ninja and
# nvcc already installed):
#   1. builds and installs the package with FASTCONV_CUDA=ON (fails if nvcc is missing),
#   2. runs the `cuda` tests (against the NumPy reference and torch's CUDA results, CuPy where
#      importable, and hypothesis-generated geometries against the float64 reference),
#   3. runs the C++ tests with CUDA (a prebuilt GTEST_BINARY, or built here when GoogleTest is
#      installed) under every ISA the CPU has (where the GPU machine's CPU has AVX-512, the only
#      place the AVX-512 kernels may run),
#   4. runs benchmarks/gpu_suite.py (fastconv vs torch/cuDNN, TF32 off then on) and writes its
#      section of docs/benchmarks.md,
#   5. runs compute-sanitizer (memcheck, then racecheck and synccheck) on a short selection of
#      the GPU tests,
#   6. runs the rest of the pytest suite on this CPU.
# The order puts first what only a GPU machine can tell, since its lease may run out; each step is
# bounded by STEP_TIMEOUT, or by BENCH_TIMEOUT and SANITIZER_TIMEOUT for those steps.
# Everything (logs, JUnit XML, the benchmark table and JSON, nvidia-smi, the commit) goes into
# RESULTS_DIR. Exit status: non-zero when any step failed; every step runs regardless.
#
# usage: scripts/gpu_check.sh RESULTS_DIR
#   PYTHON=python3, JOBS=$(nproc); CUDA_ARCHS (e.g. 90-real) narrows the build to the GPU at hand
#   (default: CMake's list); STEP_TIMEOUT (seconds, default 900) bounds each step so a hung kernel
#   cannot eat the machine's lease; BENCH_ARGS are passed to gpu_suite.py (e.g. "--min-time 0.1").
#   GTEST_BINARY: a fastconv_tests built with CUDA elsewhere (same nvcc), for machines without
#   GoogleTest. SKIP_CPU_SUITE=1 leaves out step 6.
set -uo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 RESULTS_DIR" >&2
    exit 2
fi
RESULTS=$(realpath -m "$1")
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-$(nproc 2>/dev/null || echo 4)}
mkdir -p "$RESULTS"
STATUS=0
step() {  # step NAME LOGFILE COMMAND...: runs COMMAND, logs it, records failure
    local name=$1 log=$2
    shift 2
    echo "== $name (log: $RESULTS/$log)"
    if timeout "${STEP_TIMEOUT:-900}" "$@" > "$RESULTS/$log" 2>&1; then
        echo "   ok"
    else
        echo "   FAILED (exit $?); tail of the log:"
        tail -n 30 "$RESULTS/$log" | sed 's/^/   | /'
        STATUS=1
    fi
}

# A copied tree names its commit through FASTCONV_BUILD_COMMIT, which the build embeds too; it wins
# over the copy's own .git, which may be older than the files beside it (the device tool's copies).
if [ -n "${FASTCONV_BUILD_COMMIT:-}" ]; then
    echo "$FASTCONV_BUILD_COMMIT" > "$RESULTS/commit.txt"
else
    git rev-parse HEAD > "$RESULTS/commit.txt" 2>/dev/null || echo unknown > "$RESULTS/commit.txt"
    git status --porcelain --untracked-files=no >> "$RESULTS/commit.txt" 2>/dev/null
fi
nvidia-smi > "$RESULTS/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed" >> "$RESULTS/nvidia-smi.txt"
nvcc --version > "$RESULTS/nvcc.txt" 2>&1 || echo "nvcc not found" >> "$RESULTS/nvcc.txt"
lscpu > "$RESULTS/lscpu.txt" 2>&1
ARCH_DEFINE=()
if [ -n "${CUDA_ARCHS:-}" ]; then
    ARCH_DEFINE=(-C "cmake.define.CMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHS")
fi

step "build and install (FASTCONV_CUDA=ON)" build.log \
    env FASTCONV_CUDA=ON "$PYTHON" -m pip install -v --no-build-isolation --no-deps --no-index "${ARCH_DEFINE[@]}" .

step "fastconv sees the GPU" info.log "$PYTHON" -c "
import json, fastconv
info = fastconv.info()['cuda']
print(json.dumps(info, indent=1))
assert info['compiled'] and info['available'], 'fastconv does not see a GPU'"

# pytest-xdist spreads tests over the cores (one CUDA context per worker) and pytest-timeout turns
# a hung kernel into one failed test, where the machine has them.
PYTEST_EXTRA=()
if "$PYTHON" -c "import xdist" 2>/dev/null; then
    PYTEST_EXTRA+=(-n "$(( CMAKE_BUILD_PARALLEL_LEVEL < 8 ? CMAKE_BUILD_PARALLEL_LEVEL : 8 ))")
fi
if "$PYTHON" -c "import pytest_timeout" 2>/dev/null; then
    PYTEST_EXTRA+=(--timeout=120)
fi

# From a folder outside the checkout, so the installed package (with its _core) is imported.
TESTS=$PWD/tests/python
step "pytest, the cuda tests (fixed cases and hypothesis geometries)" pytest_cuda.log \
    bash -c "cd /tmp && '$PYTHON' -m pytest '$TESTS/test_cuda.py' '$TESTS/test_conv.py::test_gpu_matches_reference' -p no:cacheprovider -q -rfEs ${PYTEST_EXTRA[*]} --junitxml='$RESULTS/pytest_cuda.xml'"
# The C++ tests (the CUDA seam and plan tests, and every CPU kernel) under each ISA this CPU has.
# As scripts/test.sh: the installed package's compiled ISAs up to the one it detects here.
ISAS=$(cd /tmp && "$PYTHON" -c "
from fastconv import _core as c
order = c.compiled_isas()
print(' '.join(order[: order.index(c.detected_isa()) + 1]))" 2>/dev/null || echo scalar)
echo "CPU ISAs: $ISAS" >> "$RESULTS/lscpu.txt"
if [ -n "${GTEST_BINARY:-}" ]; then
    for isa in $ISAS; do
        step "C++ tests ($GTEST_BINARY, FASTCONV_MAX_ISA=$isa)" "ctest_$isa.log" \
            env FASTCONV_MAX_ISA=$isa "$GTEST_BINARY" --gtest_brief=1
    done
elif [ -f /usr/include/gtest/gtest.h ] || [ -f /usr/local/include/gtest/gtest.h ]; then
    step "C++ tests with CUDA (ctest, every ISA)" ctest.log bash -c "
        cmake -S . -B build/gpu-cpp -DCMAKE_BUILD_TYPE=Release -DFASTCONV_BUILD_TESTS=ON -DFASTCONV_CUDA=ON &&
        cmake --build build/gpu-cpp && for isa in $ISAS; do
            FASTCONV_MAX_ISA=\$isa ctest --test-dir build/gpu-cpp --output-on-failure -j 8 || exit 1; done"
else
    echo "== C++ tests with CUDA: skipped (GoogleTest not installed, no GTEST_BINARY)" | tee "$RESULTS/ctest.log"
fi

STEP_TIMEOUT=${BENCH_TIMEOUT:-${STEP_TIMEOUT:-900}} step "benchmarks vs torch/cuDNN (TF32 off, then on)" bench.log \
    "$PYTHON" benchmarks/gpu_suite.py --output-dir "$RESULTS" --update-docs docs/benchmarks.md ${BENCH_ARGS:-}
cp docs/benchmarks.md "$RESULTS/benchmarks.md" 2>/dev/null

SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -n "$SANITIZER" ]; then
    SHORT="test_gpu_matches_reference and float32 and (conv2d or conv_transpose2d or conv3d) or test_gpu_unfold_fold or test_gpu_tf32 and conv2d"
    STEP_TIMEOUT=${SANITIZER_TIMEOUT:-${STEP_TIMEOUT:-900}} step "compute-sanitizer memcheck" sanitizer_memcheck.log \
        bash -c "cd /tmp && '$SANITIZER' --tool memcheck --error-exitcode 99 '$PYTHON' -m pytest '$TESTS/test_cuda.py' -p no:cacheprovider -q -x -k '$SHORT'"
    TINY="test_gpu_matches_reference and float32 and conv2d and (direct or im2col)"
    for tool in racecheck synccheck; do
        STEP_TIMEOUT=${SANITIZER_TIMEOUT:-${STEP_TIMEOUT:-900}} step "compute-sanitizer $tool" "sanitizer_$tool.log" \
            bash -c "cd /tmp && '$SANITIZER' --tool $tool --error-exitcode 99 '$PYTHON' -m pytest '$TESTS/test_cuda.py' -p no:cacheprovider -q -x -k '$TINY'"
    done
else
    echo "== compute-sanitizer not found: FAILED"
    STATUS=1
fi

if [ -z "${SKIP_CPU_SUITE:-}" ]; then
    step "pytest, the rest of the suite (this CPU's best ISA)" pytest.log \
        bash -c "cd /tmp && '$PYTHON' -m pytest '$TESTS' --ignore='$TESTS/test_cuda.py' -m 'not cuda' -p no:cacheprovider -q -rfE ${PYTEST_EXTRA[*]} --junitxml='$RESULTS/pytest.xml'"
fi

echo
if [ $STATUS -eq 0 ]; then
    echo "== all GPU checks passed; results in $RESULTS; commit docs/benchmarks.md"
else
    echo "== some GPU checks FAILED; see the logs in $RESULTS"
fi
exit $STATUS
