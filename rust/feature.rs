// SPDX-License-Identifier: GPL-2.0

//! What a feature a VM can opt in to provides. The extension
//! ([`crate::extension`]) owns the capability, the per-VM configuration,
//! each vCPU's live clock and state cell; it calls every feature the VM
//! enabled at the same points, inside that one cell, so that the live
//! clock and each feature's counters change together, preemption off.

use crate::kvm::{MsrAccess, MsrFault, PreemptGuard, Vcpu};
use crate::logic::{
    cap::VmConfig,
    uapi::{Features, Mode},
};
use kernel::{prelude::*, uapi};

/// A hook running inside the vCPU's state cell.
pub(crate) struct Hook<'a> {
    /// The vCPU.
    pub(crate) vcpu: &'a Vcpu,
    /// Preemption is off: this CPU's counters are the vCPU's CPU's.
    pub(crate) preempt: &'a PreemptGuard,
}

/// One feature: its per-vCPU state and what it does at each of the
/// extension's hook points. The hooks that not every feature needs
/// default to nothing.
pub(crate) trait Feature: Sync {
    /// Its bit in `KVM_CAP_X86_VCOUNTERS`'s feature mask.
    const FEATURE: Features;
    /// The MSRs it owns, for `KVM_GET_MSR_INDEX_LIST`.
    const MSRS: &'static [u32];
    /// Its state in each vCPU of a VM that enabled it.
    type State: Send;

    /// The state of a new vCPU of a VM configured with `config`.
    fn new_state(&self, vcpu: &Vcpu, config: &VmConfig) -> Self::State;

    /// The mode `vcpu` runs in at this `KVM_RUN`, or why it cannot run
    /// (the error fails the ioctl).
    fn run_mode(&self, vcpu: &Vcpu, config: &VmConfig) -> Result<Mode>;

    /// Moves `state` to `mode` (from [`Feature::run_mode`]) while the
    /// context is not live. Returns the new effective mode if it changed:
    /// the MSR intercepts must follow.
    fn enter_mode(&self, hook: &Hook<'_>, state: &mut Self::State, mode: Mode) -> Option<Mode>;

    /// The effective mode of `state`.
    fn mode(state: &Self::State) -> Mode;

    /// Whether `state` needs [`Feature::guest_enter`] and
    /// [`Feature::guest_exit`] at every VM-entry and exit. A vCPU whose
    /// features need none does not pay for the call.
    fn entry_hooks(_state: &Self::State) -> bool {
        false
    }

    /// Sets the guest's MSR intercepts for `mode`. Outside the cell: this
    /// reaches the vendor module.
    fn set_intercepts(&self, vcpu: &Vcpu, mode: Mode);

    /// The vCPU's context became live.
    fn live_start(&self, _hook: &Hook<'_>, _state: &mut Self::State) {}

    /// The vCPU's context stopped being live.
    fn live_stop(&self, _hook: &Hook<'_>, _state: &mut Self::State) {}

    /// VM-entry, IRQs off.
    fn guest_enter(&self, _hook: &Hook<'_>, _state: &mut Self::State) {}

    /// VM-exit, IRQs off.
    fn guest_exit(&self, _hook: &Hook<'_>, _state: &mut Self::State) {}

    /// Reads `msr`, one of [`Feature::MSRS`].
    fn get_msr(
        &self,
        hook: &Hook<'_>,
        state: &mut Self::State,
        msr: &MsrAccess,
    ) -> Result<u64, MsrFault>;

    /// Writes `msr`, one of [`Feature::MSRS`]. Returns the new effective
    /// mode if the write changed it (see [`Feature::enter_mode`]).
    fn set_msr(
        &self,
        hook: &Hook<'_>,
        state: &mut Self::State,
        msr: &MsrAccess,
        value: u64,
    ) -> Result<Option<Mode>, MsrFault>;

    /// Fills in its part of `KVM_VCOUNTERS_GET_VCPU_STATE`, outside
    /// `KVM_RUN`.
    fn report(
        &self,
        hook: &Hook<'_>,
        state: &Self::State,
        config: &VmConfig,
        out: &mut uapi::kvm_vcounters_vcpu_state,
    );
}
