// SPDX-License-Identifier: GPL-2.0

//! The PMU feature: which VMs get KVM's mediated vPMU, in which mode, and
//! its figures.
//!
//! KVM keeps the guest-visible PMU (MSR emulation, the event filter, PMI
//! injection, counting of emulated instructions) and perf the host's side
//! (`perf_load/put_guest_context`, the LVTPC vector): this feature does
//! not copy them. What upstream lacks is the choice per VM. KVM asks
//! [`wants_mediated`] before a VM's first vCPU (patches/, "Let the
//! extension choose the VMs with a mediated vPMU"); a VM that did not opt
//! in gets the perf-based vPMU. A mediated vCPU's PMU context is switched
//! by KVM at the boundary its mode gives ([`crate::logic::pmu::boundary`]):
//! around the VM-entry/exit loop, IRQs off, in ENTRY, where this feature
//! counts the switches from its entry hooks; kept loaded across VM-exits
//! in RUN, where KVM tells it of each load and put ([`PmuClock`]).

pub(crate) mod hal;

use crate::kvm::Vcpu;
use crate::logic::{
    cap::{effective_pmu_mode, VmConfig},
    pmu::boundary::{self, Boundary, PmuPut},
    uapi::{Features, PmuMode},
};
use crate::stats::VcpuStat;
use core::sync::atomic::{AtomicU64, Ordering};

/// Whether a VM configured with `config` (`None`: it did not opt in to
/// anything) gets KVM's mediated vPMU.
pub(crate) fn wants_mediated(config: Option<&VmConfig>) -> bool {
    config.is_some_and(|c| c.features.contains(Features::PMU))
}

/// The PMU state of one vCPU of a VM that enabled the feature.
pub(crate) struct PmuState {
    /// The mode the VM asked for.
    requested: PmuMode,
    /// Whether KVM switches the vCPU's PMU at every VM-entry/exit, so that
    /// the entry hooks count the switches. Taken from [`PmuState::mode`]
    /// at creation and at each `KVM_RUN` entry, after which it cannot
    /// change (KVM refuses a different CPUID once the vCPU ran): the hooks
    /// at every entry and exit then read a field, not KVM's state.
    at_entry: bool,
}

impl PmuState {
    /// The state of `vcpu`, created in a VM configured with `config`.
    pub(crate) fn new(vcpu: &Vcpu, config: &VmConfig) -> Self {
        let mut state = Self {
            requested: config.pmu_mode,
            at_entry: false,
        };
        state.refresh(vcpu);
        state
    }

    /// `vcpu`, this state's vCPU, enters `KVM_RUN`: its context is not
    /// loaded (KVM puts it at `vcpu_put`, and loads it at a VM-entry), so
    /// KVM may be told where to switch it.
    pub(crate) fn run_enter(&mut self, vcpu: &Vcpu) {
        let mode = self.refresh(vcpu);
        vcpu.set_pmu_lazy_put(boundary::lazy_put(mode));
    }

    /// Takes `at_entry` from the effective mode of `vcpu`, which it returns.
    fn refresh(&mut self, vcpu: &Vcpu) -> Option<PmuMode> {
        let mode = self.mode(vcpu);
        self.at_entry = mode == Some(PmuMode::Entry);
        mode
    }

    /// The effective mode of `vcpu`, this state's vCPU. `None` while KVM
    /// does not mediate its PMU although its VM asked: KVM gives a VM
    /// without an in-kernel irqchip no PMU, and a vCPU whose CPUID has
    /// none has none (which `KVM_SET_CPUID2` may change until the first
    /// `KVM_RUN`; no switch happens before).
    pub(crate) fn mode(&self, vcpu: &Vcpu) -> Option<PmuMode> {
        vcpu.has_mediated_pmu()
            .then(|| effective_pmu_mode(self.requested))
    }

    /// Whether KVM switches the vCPU's PMU at every VM-entry/exit.
    pub(crate) fn switched_at_entry(&self) -> bool {
        self.at_entry
    }
}

/// The figures of a vCPU whose PMU KVM keeps loaded across VM-exits, from
/// KVM's load and put callbacks. Those run with IRQs off, a put possibly
/// from perf's IPI in the middle of another callback of the vCPU: so this
/// is not in the vCPU's [`crate::kvm::VcpuCell`], and its one field is an
/// atomic that only the vCPU's own CPU writes, between vcpu_load and
/// vcpu_put.
pub(crate) struct PmuClock {
    /// When the context was last loaded, on the module's clock.
    loaded_at_ns: AtomicU64,
}

impl PmuClock {
    pub(crate) fn new() -> Self {
        Self {
            loaded_at_ns: AtomicU64::new(0),
        }
    }

    /// KVM loaded `vcpu`'s context at a VM-entry, at `now_ns`.
    pub(crate) fn loaded(&self, vcpu: &Vcpu, now_ns: u64) {
        self.loaded_at_ns.store(now_ns, Ordering::Relaxed);
        vcpu.stat_add(VcpuStat::PmuSwitches, 1);
        vcpu.stat_add(VcpuStat::PmuLazyLoads, 1);
    }

    /// KVM put `vcpu`'s context at `now_ns`, for `why`.
    pub(crate) fn put(&self, vcpu: &Vcpu, now_ns: u64, why: PmuPut) {
        let ns = boundary::loaded_ns(self.loaded_at_ns.load(Ordering::Relaxed), now_ns);
        vcpu.stat_add(VcpuStat::PmuSwitches, 1);
        vcpu.stat_add(
            match why {
                PmuPut::Exit => VcpuStat::PmuPutsExit,
                PmuPut::VcpuPut => VcpuStat::PmuPutsVcpu,
                PmuPut::Sync => VcpuStat::PmuPutsSync,
                PmuPut::Preempt => VcpuStat::PmuPutsPreempt,
            },
            1,
        );
        vcpu.stat_add(
            match why.boundary() {
                Boundary::Run => VcpuStat::PmuRunBoundaryNs,
                Boundary::Entry => VcpuStat::PmuEntryBoundaryNs,
            },
            ns,
        );
    }
}
