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
//! by KVM around the VM-entry/exit loop, IRQs off: ENTRY, where this
//! feature counts the switches.

pub(crate) mod hal;

use crate::kvm::Vcpu;
use crate::logic::{
    cap::{effective_pmu_mode, VmConfig},
    uapi::{Features, PmuMode},
};

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
        state.run_enter(vcpu);
        state
    }

    /// `vcpu`, this state's vCPU, enters `KVM_RUN`.
    pub(crate) fn run_enter(&mut self, vcpu: &Vcpu) {
        self.at_entry = self.mode(vcpu) == Some(PmuMode::Entry);
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
