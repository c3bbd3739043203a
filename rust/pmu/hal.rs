// SPDX-License-Identifier: GPL-2.0

//! The per-vendor half of the PMU feature: the host PMU read from this
//! CPU, judged by the vendor's rules ([`crate::logic::pmu`], where the AMD
//! and Intel implementations and their tests live).

use crate::logic::pmu::{amd::Amd, intel::Intel, Cpuid, PmuVendor, Refusal, RegisterFile};
use crate::shim;
use crate::vendor::Vendor;

/// The registers of the CPU the module runs on. The PMU's description
/// is the same on every CPU KVM supports a vPMU on (hybrid ones aside,
/// which this reports), so any CPU will do.
struct HostRegisters;

impl RegisterFile for HostRegisters {
    fn cpuid(&self, leaf: u32, subleaf: u32) -> Cpuid {
        let mut regs = [0u32; 4];
        // SAFETY: `regs` is valid for the four writes of EAX to EDX.
        unsafe { shim::vcounters_cpuid(leaf, subleaf, regs.as_mut_ptr()) };
        let [eax, ebx, ecx, edx] = regs;
        Cpuid { eax, ebx, ecx, edx }
    }

    fn rdmsr(&self, index: u32) -> Option<u64> {
        let mut val = 0;
        // SAFETY: RDMSR through the exception table: an MSR this CPU
        // lacks faults into a `false`, and `val` is valid for the write.
        unsafe { shim::vcounters_rdmsr_safe(index, &mut val) }.then_some(val)
    }
}

/// Why KVM cannot mediate this host's PMU, by `vendor`'s rules; `None` if
/// it can, given `enable_mediated_pmu=1` and a perf that supports it.
pub(crate) fn refusal(vendor: Vendor) -> Option<Refusal> {
    let regs = HostRegisters;
    match vendor {
        Vendor::Svm => Amd::refusal(&Amd::decode(&regs)),
        Vendor::Vmx => Intel::refusal(&Intel::decode(&regs)),
    }
}
