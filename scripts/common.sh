# Shared settings for the build scripts. Sourced, never run.
# shellcheck shell=bash

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${KVC_BUILD:-$TOP/build}
# Survives fresh clones (CI): the downloaded source package and ccache.
CACHE=${KVC_CACHE:-$HOME/.cache/kvm-vcounters}

# The kernel this project is developed and tested against.
KERNEL_PKG=linux-source-7.3
KERNEL_PKG_VERSION=${KERNEL_PKG_VERSION:-7.3.4-1~bpo13+1}

KSRC=$BUILD/linux          # patched source tree
KOBJ=$BUILD/kbuild         # O= build directory
LLVM_SUFFIX=-19
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
# The kernel build passes absolute paths; relative to the clone they are
# the same in every clone, so a fresh clone (CI) hits the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$TOP}
export CCACHE_NOHASHDIR=1
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
export PATH=$HOME/.cargo/bin:$PATH

KMAKE=(make -C "$KSRC" O="$KOBJ" LLVM="$LLVM_SUFFIX" CC="ccache clang$LLVM_SUFFIX"
       -j"$(nproc)")

die() { echo "${0##*/}: $*" >&2; exit 1; }
log() { echo "==> ${0##*/}: $*"; }
