/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C half of kvm_vcounters: what Rust cannot reach (macros and inline
 * helpers of the x86 and KVM headers). Declared once here, for the C file
 * that defines them and for rust/shim.rs, which a host test
 * (tests/shim_header.rs) checks against this header.
 */
#ifndef VCOUNTERS_SHIM_H
#define VCOUNTERS_SHIM_H

#include <linux/types.h>

struct kvm;
struct kvm_vcpu;

bool vcounters_host_has_vmx(void);
bool vcounters_host_has_svm(void);
bool vcounters_host_has_aperfmperf(void);
bool vcounters_host_sample(u64 *acnt, u64 *mcnt);
struct kvm *vcounters_vcpu_kvm(struct kvm_vcpu *vcpu);
bool vcounters_vm_has_protected_state(struct kvm *kvm);
bool vcounters_vcpu_has_mediated_pmu(struct kvm_vcpu *vcpu);
void vcounters_cpuid(u32 leaf, u32 subleaf, u32 *regs);
bool vcounters_rdmsr_safe(u32 msr, u64 *val);
void vcounters_preempt_disable(void);
void vcounters_preempt_enable(void);

#endif /* VCOUNTERS_SHIM_H */
