// SPDX-License-Identifier: GPL-2.0
/*
 * C half of kvm_vcounters: only what Rust cannot reach, i.e. macros and
 * inline helpers of the x86 and KVM headers.
 */
#include <linux/kvm_host.h>
#include <linux/types.h>
#include <asm/cpufeature.h>

bool vcounters_host_has_vmx(void);
bool vcounters_host_has_svm(void);
bool vcounters_host_has_aperfmperf(void);
struct kvm *vcounters_vcpu_kvm(struct kvm_vcpu *vcpu);

bool vcounters_host_has_vmx(void)
{
	return boot_cpu_has(X86_FEATURE_VMX);
}

bool vcounters_host_has_svm(void)
{
	return boot_cpu_has(X86_FEATURE_SVM);
}

bool vcounters_host_has_aperfmperf(void)
{
	return boot_cpu_has(X86_FEATURE_APERFMPERF);
}

struct kvm *vcounters_vcpu_kvm(struct kvm_vcpu *vcpu)
{
	return vcpu->kvm;
}
