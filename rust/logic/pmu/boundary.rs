// SPDX-License-Identifier: GPL-2.0

//! Where a vCPU's mediated PMU is switched, and what its figures count.
//!
//! In ENTRY, KVM loads the guest's PMU context at every VM-entry and puts
//! it at every VM-exit, IRQs off, as upstream does. In RUN it keeps the
//! context loaded across VM-exits, the guest's counters kept off host
//! code by the hardware (AMD's Guest-only selectors, Intel's VM-exit load
//! of PERF_GLOBAL_CTRL), until one of the [`PmuPut`] reasons puts it; the
//! next VM-entry loads it again. While host perf events want the CPU's
//! PMU, a RUN vCPU is put at each VM-exit ([`PmuPut::Exit`]), i.e.
//! switched at the entry boundary, until a load finds none.

use super::super::uapi::PmuMode;

/// Why KVM put a PMU context kept loaded across VM-exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmuPut {
    /// At a VM-exit, because host perf events want the CPU's PMU.
    Exit,
    /// At `vcpu_put`: preemption, halt or block, return to userspace.
    VcpuPut,
    /// KVM reads or writes the PMU state in software (an intercepted
    /// MSR, RDPMC emulation, an emulated instruction being counted, a PMI
    /// to deliver, the guest's LVTPC, a new event filter).
    Sync,
    /// Host perf installed or enabled an event on the CPU: forced, from
    /// perf's IPI, before perf programs the PMU.
    Preempt,
}

/// The boundary a vCPU's PMU context was switched at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundary {
    /// Loaded across VM-exits, put at a `KVM_RUN` boundary or earlier.
    Run,
    /// Loaded for one VM-entry, put at its VM-exit.
    Entry,
}

impl PmuPut {
    /// The boundary of the time the context was loaded until this put.
    pub fn boundary(self) -> Boundary {
        match self {
            Self::Exit => Boundary::Entry,
            Self::VcpuPut | Self::Sync | Self::Preempt => Boundary::Run,
        }
    }
}

/// Whether KVM should keep the PMU of a vCPU in `mode` (`None`: KVM does
/// not mediate it) loaded across VM-exits.
pub fn lazy_put(mode: Option<PmuMode>) -> bool {
    mode == Some(PmuMode::Run)
}

/// Time loaded from a load at `loaded_at_ns` to a put at `now_ns`: 0 for
/// a put seen before its load's time (another CPU's clock, a load the
/// module did not see), never a wrapped huge value.
pub fn loaded_ns(loaded_at_ns: u64, now_ns: u64) -> u64 {
    now_ns.saturating_sub(loaded_at_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_is_lazy() {
        assert!(lazy_put(Some(PmuMode::Run)));
        assert!(!lazy_put(Some(PmuMode::Entry)));
        assert!(!lazy_put(Some(PmuMode::Auto)));
        assert!(!lazy_put(None));
    }

    #[test]
    fn a_put_at_exit_is_the_entry_boundary() {
        assert_eq!(PmuPut::Exit.boundary(), Boundary::Entry);
        for why in [PmuPut::VcpuPut, PmuPut::Sync, PmuPut::Preempt] {
            assert_eq!(why.boundary(), Boundary::Run);
        }
    }

    #[test]
    fn loaded_time_never_wraps() {
        assert_eq!(loaded_ns(100, 350), 250);
        assert_eq!(loaded_ns(350, 100), 0);
    }
}
