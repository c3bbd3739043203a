// SPDX-License-Identifier: GPL-2.0
/*
 * C half of kvm_vcounters: only what Rust cannot reach, i.e. macros and
 * inline helpers of the x86 and KVM headers.
 */
#include <linux/kvm_host.h>
#include <linux/smp.h>
#include <linux/types.h>
#include <asm/aperfmperf.h>
#include <asm/cpufeature.h>
#include <asm/cpuid/api.h>
#include <asm/msr.h>

#include "vcounters_shim.h"

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

bool vcounters_vm_has_protected_state(struct kvm *kvm)
{
	return kvm->arch.has_protected_state;
}

/* What KVM's kvm_vcpu_has_mediated_pmu() (arch/x86/kvm/pmu.h) checks. */
bool vcounters_vcpu_has_mediated_pmu(struct kvm_vcpu *vcpu)
{
	return vcpu->kvm->arch.created_mediated_pmu && vcpu->arch.pmu.version;
}

/* CPUID @leaf, @subleaf of this CPU into @regs[0..3]: EAX, EBX, ECX, EDX. */
void vcounters_cpuid(u32 leaf, u32 subleaf, u32 *regs)
{
	cpuid_count(leaf, subleaf, &regs[0], &regs[1], &regs[2], &regs[3]);
}

/* MSR @msr of this CPU into @val; false if RDMSR faults. */
bool vcounters_rdmsr_safe(u32 msr, u64 *val)
{
	return !rdmsrq_safe(msr, val);
}

void vcounters_preempt_disable(void)
{
	preempt_disable();
}

void vcounters_preempt_enable(void)
{
	preempt_enable();
}

/* The last tick's APERF/MPERF deltas of this CPU; preemption must be off. */
bool vcounters_host_sample(u64 *acnt, u64 *mcnt)
{
	return arch_aperfmperf_sample(smp_processor_id(), acnt, mcnt);
}
