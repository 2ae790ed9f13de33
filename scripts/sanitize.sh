#!/usr/bin/env bash
# The sanitizer and fuzzing run of fastconv (docs/reliability.md), called by scripts/test.sh:
#   1. builds the C++ tests with AddressSanitizer (LeakSanitizer included) and
#      UndefinedBehaviorSanitizer, with clang when it can be had (then the libFuzzer target too),
#      else with gcc (CMakePresets.json: presets "fuzz" and "asan-ubsan");
#   2. runs ctest under them once per instruction set this CPU supports (FASTCONV_MAX_ISA), with
#      leak detection on, so every ISA's kernels run under ASan/UBSan/LSan;
#   3. runs the libFuzzer target fuzz_problem for FUZZ_SECONDS (default 60) and prints how many
#      cases it ran;
#   4. unless SANITIZE_PYTEST=0, builds fastconv._core with the same sanitizers and runs the pytest
#      suite once with the ASan runtime LD_PRELOADed into Python (~3 min on 2 cores).
# Fails on any sanitizer report, test failure or fuzzer crash (its reproducer stays in build/fuzz/).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
start=$(date +%s)

find_clang() {
    for candidate in clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
        if command -v "$candidate" >/dev/null 2>&1; then command -v "$candidate"; return 0; fi
    done
    return 1
}

CXX_BIN=$(find_clang || true)
if [ -z "$CXX_BIN" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing clang (for libFuzzer)"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang >/dev/null; } ||
        echo "== could not install clang"
    CXX_BIN=$(find_clang || true)
fi
if [ -n "$CXX_BIN" ]; then
    PRESET=fuzz
else
    echo "== clang not available: sanitizers with g++, libFuzzer step skipped"
    CXX_BIN=$(command -v g++)
    PRESET=asan-ubsan
fi
BUILD=build/$PRESET

EXTRA=()
SANITIZE_PYTEST=${SANITIZE_PYTEST:-1}
if [ "$SANITIZE_PYTEST" = 1 ]; then
    if PYBIND11_DIR=$($PYTHON -m pybind11 --cmakedir 2>/dev/null); then
        EXTRA+=(-DFASTCONV_BUILD_PYTHON=ON "-DPython_EXECUTABLE=$(command -v "$PYTHON")" "-Dpybind11_DIR=$PYBIND11_DIR")
    else
        echo "== pybind11 not installed for $PYTHON: the pytest-under-ASan step is skipped"
        SANITIZE_PYTEST=0
    fi
fi
echo "== building the C++ tests with ASan + UBSan ($CXX_BIN, preset $PRESET)"
cmake --preset "$PRESET" -DCMAKE_CXX_COMPILER="$CXX_BIN" "${EXTRA[@]}" >/dev/null
cmake --build "$BUILD" -j "$JOBS" >/dev/null

# The ISAs this CPU runs (the sanitized build has no Python module to ask), scalar first.
if [ -z "${ISAS:-}" ]; then
    ISAS=scalar
    flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
    if [[ $flags == *" avx2 "* && $flags == *" fma "* ]]; then ISAS="$ISAS avx2"; fi
    if [[ $flags == *" avx512f "* && $flags == *" avx512bw "* && $flags == *" avx512dq "* && $flags == *" avx512vl "* ]]; then
        ISAS="$ISAS avx512"
    fi
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for isa in $ISAS; do
    echo "== ctest under ASan + UBSan + LSan with FASTCONV_MAX_ISA=$isa"
    FASTCONV_MAX_ISA=$isa ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" | tail -n 3
done

if [ "$PRESET" = fuzz ]; then
    echo "== libFuzzer: fuzz_problem for ${FUZZ_SECONDS} s"
    rm -rf "$BUILD/corpus" && mkdir -p "$BUILD/corpus"
    # Leaks are checked by the ctest runs; here they would only slow every case down. Every case is
    # a small problem that runs in milliseconds, so one taking 30 s is a bug (a loop bounded by a
    # stride of 2^62 once was): -timeout makes it a failure with a reproducer, not a stalled CI.
    (cd "$BUILD" && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 FASTCONV_NUM_THREADS=2 ./fuzz_problem \
        -max_total_time="$FUZZ_SECONDS" -timeout=30 -print_final_stats=1 -max_len=128 corpus) >"$BUILD/fuzz.log" 2>&1 ||
        { tail -n 40 "$BUILD/fuzz.log"; echo "== fuzz_problem found a failure (reproducer in $BUILD)"; exit 1; }
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 cases in \2 s/p' "$BUILD/fuzz.log")
    echo "== fuzz_problem: ${runs:-see $BUILD/fuzz.log}, no failure"
fi

if [ "$SANITIZE_PYTEST" = 1 ]; then
    echo "== pytest against the ASan build (runtime LD_PRELOADed)"
    stage="$BUILD/python"
    rm -rf "$stage" && mkdir -p "$stage" && cp -r python/fastconv "$stage/" && cp "$BUILD"/_core*.so "$stage/fastconv/"
    runtime=$("$CXX_BIN" -print-file-name=libclang_rt.asan-x86_64.so)
    [ -f "$runtime" ] || runtime=$("$CXX_BIN" -print-file-name=libasan.so)
    # CPython's own allocations are never freed at exit, so leak detection stays off here. A report
    # kills the process inside pytest's output capture, so reports go to files, shown on failure.
    rm -f "$BUILD"/asan-pytest.*
    LD_PRELOAD="$runtime" ASAN_OPTIONS="detect_leaks=0:log_path=$PWD/$BUILD/asan-pytest" PYTHONPATH="$PWD/$stage" \
        $PYTHON -m pytest tests/python -q -p no:cacheprovider -x ||
        { cat "$BUILD"/asan-pytest.* 2>/dev/null | head -n 60; echo "== pytest under ASan failed"; exit 1; }
fi
echo "== sanitizer run passed in $(( $(date +%s) - start )) s"
