#!/usr/bin/env bash
# Installs what is missing, builds, and runs one of:
#   ./setup.sh showcase   Release build, then every example (the showcase)
#   ./setup.sh test       Release build + all tests, then an ASan+UBSan build + all tests
#   ./setup.sh bench      Release build, then the benchmarks (adds PyTorch and ADOL-C)
# On Debian 12. Uses sudo for apt-get only when not root. Safe to re-run:
# apt-get runs only when a package is missing, and builds are incremental.
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-showcase}
case "$mode" in showcase | test | bench) ;; *)
    echo "usage: $0 [showcase|test|bench]" >&2
    exit 2
    ;;
esac

packages=(cmake make g++ pkg-config libfmt-dev doctest-dev libopenblas-dev libbenchmark-dev zlib1g-dev
    libcli11-dev nlohmann-json3-dev graphviz clang clang-format libclang-rt-14-dev libopenmpi-dev openmpi-bin)
[ "$mode" = bench ] && packages+=(python3-torch libadolc-dev)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "== installing: ${missing[*]}"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)
build() { # build DIR [cmake options...]
    local dir=$1
    shift
    cmake -S . -B "$dir" -DTAPEGRAD_WERROR=ON "$@"
    cmake --build "$dir" -j "$jobs"
}

case "$mode" in
showcase)
    build build -DCMAKE_BUILD_TYPE=Release
    cmake --build build --target showcase
    ;;
test)
    build build -DCMAKE_BUILD_TYPE=Release
    ctest --test-dir build --output-on-failure -j "$jobs"
    echo "== the same tests under AddressSanitizer + UndefinedBehaviorSanitizer"
    # -Og -g1, not RelWithDebInfo's -O2 -g: the same checks and line numbers
    # in the reports, and on two cores the build takes 7 minutes instead of
    # 17 while the tests run as fast (CI must finish within 30 minutes).
    build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-Og -g1 -DNDEBUG" \
        -DTAPEGRAD_SANITIZE=ON -DTAPEGRAD_BUILD_BENCHMARKS=OFF
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
    ;;
bench)
    build build -DCMAKE_BUILD_TYPE=Release
    cmake --build build --target run_benchmarks
    ;;
esac
