# SPDX-License-Identifier: GPL-2.0
#
# kvm-vcounters: top-level targets.
#
#   make demo     set up, build, boot the test guest and show the module at work
#   make check    set up, build, run every test layer
#
# Kbuild reads ./Kbuild for the module itself; this file only drives the
# scripts. Everything built lives in build/ (gitignored); downloads and
# ccache live in ~/.cache so that a fresh clone rebuilds quickly.

SHELL := /bin/bash
S := scripts
KOBJ := $(CURDIR)/build/kbuild
# Extra arguments for the module build, e.g. make module CLIPPY=1
MODULE_ARGS := $(if $(CLIPPY),CLIPPY=1)

.PHONY: all setup qemu kernel module initramfs selftests l2 demo check check-l2 bench clean distclean

all: qemu initramfs selftests l2

setup:
	$(S)/setup-host

# The test machine: Debian's QEMU source with the series in qemu/.
qemu: setup
	$(S)/fetch-qemu
	$(S)/build-qemu

kernel: setup
	$(S)/fetch-kernel
	$(S)/build-kernel

# Out-of-tree module against the tree in build/; built after the kernel.
module: kernel
	$(S)/build-module $(MODULE_ARGS)

initramfs: module
	$(S)/make-initramfs

selftests: kernel
	$(S)/build-selftests

# QEMU, the L2 kernel and its initramfs, for a Linux L2 in the test guest.
l2: qemu kernel
	$(S)/build-kernel l2
	$(S)/make-l2

demo: qemu initramfs selftests l2
	$(S)/demo

check: qemu initramfs selftests l2
	$(S)/check

# The Linux L2 layer on its own.
check-l2: qemu initramfs selftests l2
	$(S)/check l2

# Cost of the hooks for VMs that did not opt in (exits/s, module loaded
# vs not, same boot).
bench: qemu initramfs selftests l2
	$(S)/bench

clean:
	rm -rf build/kbuild build/l2kbuild build/qemu-build build/module build/initramfs* build/selftests build/l2 build/turbostat target

# Also the patched source tree; the download cache in ~/.cache stays.
distclean: clean
	rm -rf build
