#!/bin/sh
# install-deps.sh LEVEL - make sure the system packages for LEVEL are present.
#
#   build  compiler, make, pkg-config, zlib, the BLAS backend (BLAS=openblas|blis),
#          python3 (scripts/gen-man.py writes the manual)
#   check  build + the Check unit-test framework, groff (the manual's check)
#   fuzz   check + clang and its sanitizer runtimes (libFuzzer, TSan)
#   demo   build + Debian's Fashion-MNIST data set package, and the OpenMP
#          OpenBLAS (libopenblas-openmp-dev) that make demo trains on (as
#          root; otherwise its absence is only reported: the demo then
#          runs on the default build)
#   speech build + espeak-ng (make run-cpc-speech synthesises its corpus)
#   ci     check + demo + speech + clang, valgrind, abigail-tools, cmake,
#          man-db (the CI script)
#   bench  check + PyTorch and NumPy for the comparison runs
#   mpi    build + Open MPI (make MPI=1, make check-mpi; the core never needs it)
#
# Missing packages are installed with apt-get when run as root; otherwise the
# script prints the exact command to run and fails. On a system without
# dpkg it only checks the tools it can see and trusts the rest.
set -eu

level=${1:-build}
blas=${BLAS:-openblas}

case "$blas" in
    openblas) blas_pkg=libopenblas-dev ;;
    blis) blas_pkg=libblis-dev ;;
    *) echo "install-deps: BLAS must be openblas or blis (got '$blas')" >&2; exit 2 ;;
esac

build_pkgs="make gcc pkg-config zlib1g-dev python3 $blas_pkg"
case "${CC:-cc}" in *clang*) build_pkgs="$build_pkgs clang" ;; esac
check_pkgs="check groff-base"
demo_pkgs="dataset-fashion-mnist"
# make demo trains on the OpenMP build (gcc and OpenBLAS only: Makefile)
# when this is installed, else on the default build: installed as root,
# only mentioned otherwise
demo_optional=""
case "$blas:${CC:-cc}" in
    openblas:*clang*) ;;
    openblas:*) demo_optional="libopenblas-openmp-dev" ;;
esac
speech_pkgs="espeak-ng"
mpi_pkgs="libopenmpi-dev openmpi-bin"
case "$level" in
    build) want="$build_pkgs" ;;
    check) want="$build_pkgs $check_pkgs" ;;
    fuzz) want="$build_pkgs $check_pkgs clang libclang-rt-dev" ;;
    demo) want="$build_pkgs $demo_pkgs $demo_optional" ;;
    speech) want="$build_pkgs $speech_pkgs" ;;
    ci) want="$build_pkgs $check_pkgs $demo_pkgs $demo_optional $speech_pkgs clang g++ valgrind abigail-tools libclang-rt-dev libblis-dev cmake man-db" ;;
    mpi) want="$build_pkgs $mpi_pkgs" ;;
    bench) want="$build_pkgs $check_pkgs $demo_pkgs python3-torch python3-numpy" ;;
    *) echo "install-deps: unknown level '$level' (build|check|fuzz|demo|speech|ci|bench|mpi)" >&2; exit 2 ;;
esac
# CI runs make check-mpi too (Open MPI, as root with --allow-run-as-root).
if [ "$level" = ci ]; then want="$want $mpi_pkgs"; fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    for tool in make pkg-config; do
        command -v "$tool" >/dev/null 2>&1 ||
            { echo "install-deps: '$tool' not found; install it" >&2; exit 1; }
    done
    exit 0
fi

missing=""
for pkg in $want; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ] && [ "$level" = demo ] && [ -n "$demo_optional" ] &&
    [ "$(echo $missing)" = "$demo_optional" ]; then
    echo "install-deps: make demo runs on the default build; for the faster OpenMP build run as root:  apt-get update && $cmd" >&2
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing" >&2
    echo "install-deps: run as root:  apt-get update && $cmd" >&2
    exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; refresh them once if the install
# cannot find a package.
if ! $cmd >/dev/null 2>&1; then
    apt-get update -qq >&2
    $cmd >&2
fi
