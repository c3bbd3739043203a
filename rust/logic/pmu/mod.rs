// SPDX-License-Identifier: GPL-2.0

//! The host PMU as KVM's mediated vPMU needs it, per vendor.
//!
//! KVM decides once, when kvm_amd or kvm_intel loads, whether it can
//! mediate (`kvm_init_pmu_capability()` and the vendor's
//! `is_mediated_pmu_supported()`); when it cannot, it says nothing, and a
//! VM asking for the PMU feature only gets `-EOPNOTSUPP`. The vendors
//! here decode the same facts from the CPU's registers and judge them the
//! way upstream 7.3 does, so that the module can tell the operator why.
//!
//! The registers come from a [`RegisterFile`]: the CPU, through the
//! module's shim, or in tests a modeled one (this host has no VMX and no
//! Intel PMU to read: [`intel`] is proven only against models).

pub mod amd;
pub mod boundary;
pub mod intel;

use core::fmt;

/// The four registers one CPUID leaf returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpuid {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// Where a vendor reads the host PMU's description.
pub trait RegisterFile {
    /// CPUID leaf `leaf`, subleaf `subleaf`; zeros above the maximum leaf
    /// of its range.
    fn cpuid(&self, leaf: u32, subleaf: u32) -> Cpuid;
    /// MSR `index`, or `None` where RDMSR faults.
    fn rdmsr(&self, index: u32) -> Option<u64>;

    /// CPUID leaf `leaf`, subleaf 0, or `None` above the maximum leaf of
    /// its range (which CPUs answer with another leaf's values).
    fn leaf(&self, leaf: u32) -> Option<Cpuid> {
        (leaf <= self.cpuid(leaf & 0x8000_0000, 0).eax).then(|| self.cpuid(leaf, 0))
    }

    /// Whether feature flag `flag` is set.
    fn has(&self, flag: CpuidFlag) -> bool {
        self.leaf(flag.leaf)
            .is_some_and(|r| [r.eax, r.ebx, r.ecx, r.edx][flag.reg as usize] & (1 << flag.bit) != 0)
    }
}

/// A CPUID register, to name where a flag is.
// All four, although the flags in use are in ECX and EDX.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug)]
pub enum Reg {
    /// EAX.
    Eax,
    /// EBX.
    Ebx,
    /// ECX.
    Ecx,
    /// EDX.
    Edx,
}

/// A one-bit CPUID feature flag of subleaf 0.
#[derive(Clone, Copy, Debug)]
pub struct CpuidFlag {
    /// Its leaf.
    pub leaf: u32,
    /// Its register.
    pub reg: Reg,
    /// Its bit.
    pub bit: u32,
}

/// The host PMU, the facts upstream's decision rests on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostPmu {
    /// Architectural PMU version: Intel's CPUID.0AH, AMD's 2 with
    /// PerfMonV2 and 1 without; 0 for none.
    pub version: u8,
    /// General-purpose counters.
    pub gp_counters: u8,
    /// Width of a general-purpose counter, in bits.
    pub gp_width: u8,
    /// Fixed counters (Intel).
    pub fixed_counters: u8,
    /// A hybrid CPU (Intel P- and E-cores): KVM gives no vPMU at all.
    pub hybrid: bool,
    /// Counters can be written at their full width (Intel
    /// PERF_CAPABILITIES.FW_WRITE; AMD always).
    pub full_width_writes: bool,
    /// VM-entry can load PERF_GLOBAL_CTRL from the VMCS (Intel; AMD needs
    /// no such control, its selectors count guest-only).
    pub entry_loads_global_ctrl: bool,
}

/// Why KVM cannot mediate the host's PMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A hybrid CPU: KVM gives no vPMU.
    Hybrid,
    /// No PMU KVM can use (no counters; Intel: no architectural PMU).
    NoPmu,
    /// Fewer general-purpose counters than the architecture requires.
    TooFewCounters {
        /// What the host has.
        have: u8,
        /// What KVM requires.
        need: u8,
    },
    /// AMD without PerfMonV2 (global control and status MSRs).
    NoPerfMonV2,
    /// Intel's architectural PMU below version 4 (no GLOBAL_STATUS_SET).
    ArchPmuVersion(u8),
    /// Intel without full-width counter writes: KVM could not load a
    /// guest's counter value exactly.
    NoFullWidthWrites,
    /// Intel without the VM-entry control that loads PERF_GLOBAL_CTRL.
    NoEntryGlobalCtrl,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hybrid => write!(f, "a hybrid CPU, for which KVM has no vPMU"),
            Self::NoPmu => write!(f, "no PMU that KVM can use"),
            Self::TooFewCounters { have, need } => {
                write!(f, "{have} general-purpose counters, KVM needs {need}")
            }
            Self::NoPerfMonV2 => write!(f, "no PerfMonV2, which a mediated PMU needs on AMD"),
            Self::ArchPmuVersion(v) => write!(
                f,
                "architectural PMU version {v}, a mediated PMU needs 4 on Intel"
            ),
            Self::NoFullWidthWrites => write!(f, "no full-width counter writes"),
            Self::NoEntryGlobalCtrl => {
                write!(f, "no VM-entry control to load PERF_GLOBAL_CTRL")
            }
        }
    }
}

/// What differs between AMD's and Intel's PMU for the PMU feature.
pub trait PmuVendor {
    /// The fewest general-purpose counters KVM accepts
    /// (`kvm_pmu_ops.MIN_NR_GP_COUNTERS`).
    const MIN_GP_COUNTERS: u8;

    /// The host PMU, decoded from `regs`.
    fn decode(regs: &dyn RegisterFile) -> HostPmu;

    /// What this vendor's `is_mediated_pmu_supported()` refuses, the
    /// common checks passed.
    fn vendor_refusal(host: &HostPmu) -> Option<Refusal>;

    /// Why KVM cannot mediate `host`, in the order upstream checks;
    /// `None` if it can, given a perf that supports it and
    /// `enable_mediated_pmu=1`.
    fn refusal(host: &HostPmu) -> Option<Refusal> {
        if host.hybrid {
            Some(Refusal::Hybrid)
        } else if host.gp_counters == 0 {
            Some(Refusal::NoPmu)
        } else if host.gp_counters < Self::MIN_GP_COUNTERS {
            Some(Refusal::TooFewCounters {
                have: host.gp_counters,
                need: Self::MIN_GP_COUNTERS,
            })
        } else {
            Self::vendor_refusal(host)
        }
    }
}

#[cfg(test)]
pub(crate) mod model {
    //! A modeled register file: CPUID leaves and MSRs as a table.

    use super::{Cpuid, PmuVendor, Refusal, RegisterFile};

    /// CPUID leaves `(leaf, subleaf, value)` and MSRs `(index, value)`;
    /// anything else reads as zeros or faults.
    pub(crate) struct Model {
        pub(crate) cpuid: &'static [(u32, u32, Cpuid)],
        pub(crate) msrs: &'static [(u32, u64)],
    }

    impl RegisterFile for Model {
        fn cpuid(&self, leaf: u32, subleaf: u32) -> Cpuid {
            self.cpuid
                .iter()
                .find(|(l, s, _)| *l == leaf && *s == subleaf)
                .map_or(Cpuid::default(), |(_, _, r)| *r)
        }

        fn rdmsr(&self, index: u32) -> Option<u64> {
            self.msrs.iter().find(|(i, _)| *i == index).map(|(_, v)| *v)
        }
    }

    /// What vendor `V` decides for the host `model` describes.
    pub(crate) fn verdict<V: PmuVendor>(model: &Model) -> Option<Refusal> {
        V::refusal(&V::decode(model))
    }

    /// CPUID values, EAX to EDX.
    pub(crate) const fn regs(eax: u32, ebx: u32, ecx: u32, edx: u32) -> Cpuid {
        Cpuid { eax, ebx, ecx, edx }
    }
}
