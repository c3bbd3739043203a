/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the vcounters_*.c selftests: the CPUID bit, enabling
 * the capability, creating a VM that opted in, and reading a vCPU's state.
 */
#ifndef SELFTEST_KVM_VCOUNTERS_H
#define SELFTEST_KVM_VCOUNTERS_H

#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"

#define X86_FEATURE_APERFMPERF	KVM_X86_CPU_FEATURE(0x6, 0, ECX, 0)

/* KVM_ENABLE_CAP(KVM_CAP_X86_VCOUNTERS) for @features in @mode. */
static inline int __vcounters_enable(struct kvm_vm *vm, u64 features, u32 mode)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_VCOUNTERS,
		.args = { features, mode },
	};

	return __vm_ioctl(vm, KVM_ENABLE_CAP, &cap);
}

/*
 * A VM with APERF/MPERF in @mode and @nr_vcpus vCPUs running @guest_code,
 * each given the CPUID bit.
 */
static inline struct kvm_vm *vcounters_vm_create(u32 mode, int nr_vcpus,
						 struct kvm_vcpu **vcpus,
						 void *guest_code)
{
	struct kvm_vm *vm = vm_create(nr_vcpus);
	int i;

	TEST_ASSERT(!__vcounters_enable(vm, KVM_VCOUNTERS_APERFMPERF, mode),
		    "KVM_ENABLE_CAP(KVM_CAP_X86_VCOUNTERS) in mode %u", mode);
	for (i = 0; i < nr_vcpus; i++) {
		vcpus[i] = vm_vcpu_add(vm, i, guest_code);
		vcpu_set_cpuid_feature(vcpus[i], X86_FEATURE_APERFMPERF);
	}
	return vm;
}

static inline struct kvm_vcounters_vcpu_state vcounters_state(struct kvm_vcpu *vcpu)
{
	struct kvm_vcounters_vcpu_state st;

	vcpu_ioctl(vcpu, KVM_VCOUNTERS_GET_VCPU_STATE, &st);
	return st;
}

/* Whether the host has APERF/MPERF (KVM offers upstream's passthrough). */
static inline bool vcounters_host_has_aperfmperf(void)
{
	return kvm_check_cap(KVM_CAP_X86_DISABLE_EXITS) & KVM_X86_DISABLE_EXITS_APERFMPERF;
}

#endif /* SELFTEST_KVM_VCOUNTERS_H */
