# Shared settings for the build scripts. Sourced, never run.
# shellcheck shell=bash

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${KVC_BUILD:-$TOP/build}
# Survives fresh clones (CI): the downloaded source package and ccache.
CACHE=${KVC_CACHE:-$HOME/.cache/kvm-vcounters}

# The kernel this project is developed and tested against.
KERNEL_PKG=linux-source-7.3
KERNEL_PKG_VERSION=${KERNEL_PKG_VERSION:-7.3.4-1~bpo13+1}

# The QEMU the test machine runs: Debian's source package (bookworm-
# backports, the version of the firmware packages) plus qemu/series.
QEMU_PKG_VERSION=${QEMU_PKG_VERSION:-1:10.0.2+ds-2+deb13u1~bpo12+1}
QEMU_UPSTREAM_VERSION=${QEMU_PKG_VERSION#*:}
QEMU_UPSTREAM_VERSION=${QEMU_UPSTREAM_VERSION%%-*}
QSRC=$BUILD/qemu           # patched QEMU source tree
QBUILD=$BUILD/qemu-build   # its meson build directory
QEMU=${KVC_QEMU:-$QBUILD/qemu-system-x86_64}
# The test machine's CPU: SVM with nested paging, and the counting
# silicon qemu/ adds to TCG: APERF/MPERF (APERF at 5/4 of MPERF by
# default) and the AMD PerfMonV2 PMU. VM_RUN_CPU_EXTRA appends to it
# (e.g. ",aperfmperf-writes=drop").
TEST_CPU="EPYC-Milan,+svm,+npt,+aperfmperf,+perfmon-v2,pmu=on${VM_RUN_CPU_EXTRA:-}"
# One TCG thread for both vCPUs. Under multi-threaded TCG, QEMU 10.0.2's
# nested SVM loses an L2's page walk now and then: an L2 of a selftest
# takes a #PF on an instruction fetch from its static page tables, then
# on its IDT, and shuts down (1 in about 8 runs of vcounters_stress_test,
# with the module's hardware modes, the PMU and APERF/MPERF all off too;
# 0 in 40 single-threaded). KVC_TCG_THREAD=multi brings it back.
TCG_THREAD=${KVC_TCG_THREAD:-single}

KSRC=$BUILD/linux          # patched source tree
KOBJ=$BUILD/kbuild         # O= build directory
MOBJ=$BUILD/module         # MO= output of the module's build
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

# Bring the patches applied to source tree $1 in line with $2/series,
# quilt-style: copies of the applied patches live in $1/.vc-applied; the
# longest byte-identical prefix stays, the rest is reverted and the new
# tail applied patch by patch (no fuzz), so only the files a change
# touches get new timestamps and rebuild.
apply_series() { # srcdir patchdir
	local src=$1 dir=$2 applied=$1/.vc-applied keep=0 i p
	local -a wanted=() have=()
	mkdir -p "$applied"
	if [ -f "$dir/series" ]; then
		while read -r p _; do
			case "$p" in ''|'#'*) continue ;; esac
			wanted+=("$p")
		done < "$dir/series"
	fi
	mapfile -t have < <(cat "$applied/series" 2>/dev/null || true)
	while [ $keep -lt ${#have[@]} ] && [ $keep -lt ${#wanted[@]} ] &&
	      [ "${have[$keep]}" = "${wanted[$keep]}" ] &&
	      cmp -s "$applied/${have[$keep]}" "$dir/${wanted[$keep]}"; do
		keep=$((keep + 1))
	done
	for ((i = ${#have[@]} - 1; i >= keep; i--)); do
		log "reverting ${have[$i]}"
		patch -d "$src" -p1 -R -s --fuzz=0 --no-backup-if-mismatch < "$applied/${have[$i]}" ||
			die "cannot revert ${have[$i]}: remove $src to start over"
		rm -f "$applied/${have[$i]}"
		printf '%s\n' "${have[@]:0:$i}" | sed '/^$/d' > "$applied/series"
	done
	for ((i = keep; i < ${#wanted[@]}; i++)); do
		p=${wanted[$i]}
		log "applying $p"
		patch -d "$src" -p1 -s --fuzz=0 --no-backup-if-mismatch < "$dir/$p" ||
			die "${dir##*/}/$p does not apply cleanly (no fuzz allowed)"
		cp "$dir/$p" "$applied/$p"
		printf '%s\n' "${wanted[@]:0:$((i + 1))}" > "$applied/series"
	done
}
