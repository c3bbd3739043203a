/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * KVM x86 virtual counters: per-VM guest-owned APERF/MPERF and PMU.
 *
 * See Documentation/virt/kvm/x86/vcounters.rst.
 */
#ifndef _UAPI_LINUX_KVM_VCOUNTERS_H
#define _UAPI_LINUX_KVM_VCOUNTERS_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/kvm.h>

/* 'VC': outside the range upstream allocates capability numbers from. */
#define KVM_CAP_X86_VCOUNTERS		0x5643

/*
 * Features: KVM_CHECK_EXTENSION(KVM_CAP_X86_VCOUNTERS), on /dev/kvm or on a
 * VM fd, returns the mask of features this host supports; 0 when the
 * extension is not loaded.
 */
#define KVM_VCOUNTERS_APERFMPERF	(1ULL << 0)
#define KVM_VCOUNTERS_PMU		(1ULL << 1)

/*
 * Switch modes: KVM_ENABLE_CAP args[1] (APERF/MPERF) and args[2] (PMU).
 *
 * AUTO:    the best mode this host and vCPU allow.
 * RUN:     hardware MSRs, reads pass through, switched at vcpu_load/vcpu_put.
 * ENTRY:   hardware MSRs, reads pass through, switched at every
 *          VM-entry/exit.
 * EMULATE: reads intercepted, values computed from the guest TSC
 *          (APERF/MPERF only).
 */
#define KVM_VCOUNTERS_MODE_AUTO		0
#define KVM_VCOUNTERS_MODE_RUN		1
#define KVM_VCOUNTERS_MODE_ENTRY	2
#define KVM_VCOUNTERS_MODE_EMULATE	3

struct kvm_vcounters_vcpu_state {
	__u64 features;		/* features enabled for this vCPU's VM */
	__u32 aperfmperf_mode;	/* effective mode, never AUTO */
	__u32 pmu_mode;		/* effective mode, 0 when PMU not enabled */
	__u64 aperf;		/* guest's current IA32_APERF */
	__u64 mperf;		/* guest's current IA32_MPERF */
	__u64 reserved[12];	/* zero */
};

/* On a vCPU fd. */
#define KVM_VCOUNTERS_GET_VCPU_STATE \
	_IOR(KVMIO, 0xf0, struct kvm_vcounters_vcpu_state)

#endif /* _UAPI_LINUX_KVM_VCOUNTERS_H */
