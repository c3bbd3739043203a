// SPDX-License-Identifier: GPL-2.0

//! Each vCPU's own IA32_APERF and IA32_MPERF, in one of three modes:
//! - EMULATE: guest reads and writes are intercepted and served from
//!   counters that advance with the guest TSC while the context is live;
//! - RUN: the guest's values sit in the MSRs from the load to the put of
//!   its live context, reads pass through, writes are intercepted;
//! - ENTRY: the same, switched at every VM-entry and VM-exit.
//!
//! The arithmetic is in [`crate::logic`]; this is where it meets the vCPU:
//! CPUID, intercepts, the CPU's counters ([`bank`]) and the stats.

pub(crate) mod bank;
pub(crate) mod hal;

use crate::extension::cap_errno;
use crate::feature::{Feature, Hook};
use crate::kvm::{MsrAccess, MsrFault, Vcpu};
use crate::logic::{
    aperfmperf::Counter,
    cap::{self, HostCaps, VcpuCaps, VmConfig},
    switch::{GuestCounters, Now},
    uapi::{Features, Mode},
};
use crate::stats::VcpuStat;
use bank::CpuBank;
use kernel::{prelude::*, uapi};

/// CPUID.06H:ECX[0], APERFMPERF. Not added to KVM_GET_SUPPORTED_CPUID: that
/// answer is system-wide, and a VMM that copies it into a VM that did not
/// opt in would give its guest counters whose accesses #GP. The VMM sets
/// the bit for the VMs it opted in.
const CPUID_LEAF: u32 = 6;
const CPUID_ECX_APERFMPERF: u32 = 1 << 0;

/// Whether the guest of `vcpu` was given APERFMPERF in its CPUID.
fn guest_has_cpuid_bit(vcpu: &Vcpu) -> bool {
    vcpu.guest_cpuid(CPUID_LEAF, 0)
        .is_some_and(|e| e.ecx & CPUID_ECX_APERFMPERF != 0)
}

/// The instant of an EMULATE read or switch, on the hook's CPU (the ratio
/// is this CPU's).
fn now(hook: &Hook<'_>) -> Now {
    Now {
        tsc: hook.vcpu.l1_tsc(),
        ratio: bank::current_ratio(hook.preempt),
    }
}

/// The APERF/MPERF feature, with what this host offers.
pub(crate) struct AperfMperf {
    caps: HostCaps,
}

impl AperfMperf {
    pub(crate) fn new(caps: HostCaps) -> Self {
        Self { caps }
    }

    /// Runs `op` on `counters` with this CPU's counters, and adds the host
    /// MSR accesses it made to the stat of the mode they were made in
    /// (EMULATE computes; it never touches the MSRs).
    fn with_bank<R>(
        hook: &Hook<'_>,
        counters: &mut GuestCounters,
        op: impl FnOnce(&mut GuestCounters, &mut CpuBank<'_>) -> R,
    ) -> R {
        let mode = counters.mode();
        let mut bank = CpuBank::new(hook.preempt);
        let r = op(counters, &mut bank);
        let stat = match mode {
            Mode::Run => Some(VcpuStat::MsrAccessesRun),
            Mode::Entry => Some(VcpuStat::MsrAccessesEntry),
            Mode::Auto | Mode::Emulate => None,
        };
        if let (Some(stat), n @ 1..) = (stat, bank.accesses()) {
            hook.vcpu.stat_add(stat, n);
        }
        r
    }

    /// The counter a guest or userspace access names, if the accessor may
    /// use it: userspace always (migration), the guest only with the CPUID
    /// bit, like any other MSR upstream.
    fn counter(vcpu: &Vcpu, msr: &MsrAccess) -> Result<Counter, MsrFault> {
        let counter = Counter::from_msr(msr.index).ok_or(MsrFault)?;
        if !msr.host_initiated {
            vcpu.stat_add(VcpuStat::MsrExits, 1);
            if !guest_has_cpuid_bit(vcpu) {
                return Err(MsrFault);
            }
        }
        Ok(counter)
    }
}

impl Feature for AperfMperf {
    const FEATURE: Features = Features::APERFMPERF;
    const MSRS: &'static [u32] = &Counter::MSRS;
    type State = GuestCounters;

    fn new_state(&self, vcpu: &Vcpu, config: &VmConfig) -> GuestCounters {
        // What the first KVM_RUN will pick, unless the TSC changes first.
        GuestCounters::new(self.run_mode(vcpu, config).unwrap_or(Mode::Emulate))
    }

    fn run_mode(&self, vcpu: &Vcpu, config: &VmConfig) -> Result<Mode> {
        let vcpu_caps = VcpuCaps {
            tsc_scaled: vcpu.tsc_scaled(),
        };
        cap::effective_aperfmperf_mode(config.aperfmperf_mode, &self.caps, vcpu_caps)
            .map_err(cap_errno)
    }

    fn enter_mode(
        &self,
        hook: &Hook<'_>,
        counters: &mut GuestCounters,
        mode: Mode,
    ) -> Option<Mode> {
        // Not live yet: the values are stable and can move between modes
        // (the TSC frequency may have changed since the vCPU was created;
        // values that may wrap while loaded stay emulated until they have).
        Self::with_bank(hook, counters, |c, bank| {
            let (was, now) = (c.mode(), now(hook));
            let mode = c.effective_mode(mode, now, bank);
            if mode != was {
                c.set_mode(mode, now, bank);
            }
            (c.mode() != was).then(|| c.mode())
        })
    }

    fn mode(counters: &GuestCounters) -> Mode {
        counters.mode()
    }

    fn entry_hooks(counters: &GuestCounters) -> bool {
        counters.mode() == Mode::Entry
    }

    /// Guest reads pass through in the hardware modes, unless the guest
    /// lacks the CPUID bit (its reads must #GP). Writes always exit: the
    /// host's offsets must follow them.
    fn set_intercepts(&self, vcpu: &Vcpu, mode: Mode) {
        let passthrough = matches!(mode, Mode::Run | Mode::Entry) && guest_has_cpuid_bit(vcpu);
        for msr in Self::MSRS {
            vcpu.set_msr_intercept(*msr, !passthrough, true);
        }
    }

    fn live_start(&self, hook: &Hook<'_>, counters: &mut GuestCounters) {
        Self::with_bank(hook, counters, |c, bank| c.live_start(now(hook), bank));
    }

    fn live_stop(&self, hook: &Hook<'_>, counters: &mut GuestCounters) {
        Self::with_bank(hook, counters, |c, bank| c.live_stop(now(hook), bank));
    }

    fn guest_enter(&self, hook: &Hook<'_>, counters: &mut GuestCounters) {
        Self::with_bank(hook, counters, |c, bank| c.guest_enter(bank));
    }

    fn guest_exit(&self, hook: &Hook<'_>, counters: &mut GuestCounters) {
        Self::with_bank(hook, counters, |c, bank| c.guest_exit(bank));
    }

    fn get_msr(
        &self,
        hook: &Hook<'_>,
        counters: &mut GuestCounters,
        msr: &MsrAccess,
    ) -> Result<u64, MsrFault> {
        let counter = Self::counter(hook.vcpu, msr)?;
        Ok(Self::with_bank(hook, counters, |c, bank| {
            c.read(counter, now(hook), bank)
        }))
    }

    fn set_msr(
        &self,
        hook: &Hook<'_>,
        counters: &mut GuestCounters,
        msr: &MsrAccess,
        value: u64,
    ) -> Result<Option<Mode>, MsrFault> {
        let counter = Self::counter(hook.vcpu, msr)?;
        Ok(Self::with_bank(hook, counters, |c, bank| {
            let was = c.mode();
            c.write(counter, value, now(hook), bank);
            // A value that may wrap while loaded moved the counters to
            // EMULATE: the guest's reads must exit from now on.
            (c.mode() != was).then(|| c.mode())
        }))
    }

    fn report(
        &self,
        hook: &Hook<'_>,
        counters: &GuestCounters,
        config: &VmConfig,
        out: &mut uapi::kvm_vcounters_vcpu_state,
    ) {
        // Outside KVM_RUN nothing is loaded: no MSR is touched. The mode
        // is the one the next run will pick; one it would refuse is
        // reported as requested.
        let mut bank = CpuBank::new(hook.preempt);
        let now = now(hook);
        let mode = self
            .run_mode(hook.vcpu, config)
            .unwrap_or(config.aperfmperf_mode);
        out.aperfmperf_mode = counters.effective_mode(mode, now, &mut bank) as u32;
        out.aperf = counters.read(Counter::Aperf, now, &mut bank);
        out.mperf = counters.read(Counter::Mperf, now, &mut bank);
    }
}
