// SPDX-License-Identifier: GPL-2.0

//! The C half of the module (`shim/vcounters_shim.c`): what Rust cannot
//! reach, macros and inline helpers of the x86 and KVM headers.
//!
//! Declared once, here, from `shim/vcounters_shim.h`; a host test
//! (`tests/shim_header.rs`) checks that both say the same. Callers wrap
//! each function in a safe API next to what it serves.

use kernel::bindings::{kvm, kvm_vcpu};

extern "C" {
    pub(crate) fn vcounters_host_has_vmx() -> bool;
    pub(crate) fn vcounters_host_has_svm() -> bool;
    pub(crate) fn vcounters_host_has_aperfmperf() -> bool;
    pub(crate) fn vcounters_host_sample(acnt: *mut u64, mcnt: *mut u64) -> bool;
    pub(crate) fn vcounters_vcpu_kvm(vcpu: *mut kvm_vcpu) -> *mut kvm;
    pub(crate) fn vcounters_vm_has_protected_state(kvm: *mut kvm) -> bool;
    pub(crate) fn vcounters_vcpu_has_mediated_pmu(vcpu: *mut kvm_vcpu) -> bool;
    pub(crate) fn vcounters_cpuid(leaf: u32, subleaf: u32, regs: *mut u32);
    pub(crate) fn vcounters_rdmsr_safe(msr: u32, val: *mut u64) -> bool;
    pub(crate) fn vcounters_preempt_disable();
    pub(crate) fn vcounters_preempt_enable();
}
