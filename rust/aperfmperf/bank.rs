// SPDX-License-Identifier: GPL-2.0

//! The host's APERF/MPERF: whether they exist and keep writes, the tick's
//! sample, and the kernel's switch helpers (the series' x86/aperfmperf
//! patch) that load a guest's values while keeping the host's view
//! continuous.

use crate::kvm::PreemptGuard;
use crate::logic::{
    aperfmperf::{Counter, Ratio},
    switch::CounterBank,
};
use crate::shim;
use kernel::bindings;

/// Whether the host CPUs have APERF/MPERF (X86_FEATURE_APERFMPERF).
pub(crate) fn host_has_counters() -> bool {
    // SAFETY: the shim only reads boot_cpu_data, which is set up long
    // before any module can load and never changes afterwards.
    unsafe { shim::vcounters_host_has_aperfmperf() }
}

/// The right to load guest APERF/MPERF values into this host's CPUs,
/// which exist and keep what is written to them. Hosts nested under a
/// hypervisor that passes only the reads through have counters that drop
/// or fault writes; RUN and ENTRY would hand a guest the host's counts
/// there. While this lives, the kernel's readers of the counters take the
/// offsets of loaded guest values into account (a static key: without
/// one, the scheduler tick pays nothing for them).
pub(crate) struct GuestSwitching(());

impl GuestSwitching {
    /// Probes every CPU (write, read back, restore, with accessors that
    /// cannot fault); `None` where the counters are missing or drop or
    /// fault writes. Call from process context, with no guest values
    /// loaded.
    pub(crate) fn enable() -> Option<Self> {
        // SAFETY: the helper probes each CPU with IRQs off and the safe
        // MSR accessors, restoring the host's counts; callers (module
        // init, the KUnit suites) have no guest values loaded.
        (host_has_counters() && unsafe { bindings::aperfmperf_guest_enable() }).then_some(Self(()))
    }
}

impl Drop for GuestSwitching {
    fn drop(&mut self) {
        // SAFETY: pairs with the successful enable() that made `self`;
        // whoever owns it loads guest values only while it lives.
        unsafe { bindings::aperfmperf_guest_disable() }
    }
}

/// This CPU's APERF/MPERF ratio over the last scheduler tick, the sample
/// the kernel keeps for frequency invariance; 1:1 where there is none (no
/// APERFMPERF, or an idle CPU).
pub(crate) fn current_ratio(_preempt: &PreemptGuard) -> Ratio {
    let (mut acnt, mut mcnt) = (0, 0);
    // SAFETY: the shim reads this CPU's sample under its seqcount into
    // the two locals; the guard keeps preemption off.
    if unsafe { shim::vcounters_host_sample(&mut acnt, &mut mcnt) } {
        Ratio::new(acnt, mcnt)
    } else {
        Ratio::ONE
    }
}

/// Host MSR accesses of `aperfmperf_guest_load()` and `_put()`: read both
/// host (or guest) values, write both guest (or host) values.
const SWITCH_ACCESSES: u64 = 4;
/// Host MSR accesses of `aperfmperf_guest_read()`.
const READ_ACCESSES: u64 = 2;
/// Host MSR accesses of `aperfmperf_guest_write()`: read and write the one
/// counter. A guest's WRMSR costs the host no more than that.
const WRITE_ACCESSES: u64 = 2;

/// This CPU's APERF/MPERF, through the kernel's switch helpers, which keep
/// the host's view continuous while a guest's values are loaded. Counts
/// the host MSR accesses it makes, for the vCPU's stats.
///
/// Exists only while preemption is off, so that a load and its put hit
/// the same CPU; the helpers disable IRQs themselves around each switch.
pub(crate) struct CpuBank<'a> {
    accesses: u64,
    _preempt: &'a PreemptGuard,
}

impl<'a> CpuBank<'a> {
    /// This CPU's counters, for as long as `preempt` keeps it this CPU.
    pub(crate) fn new(preempt: &'a PreemptGuard) -> Self {
        Self {
            accesses: 0,
            _preempt: preempt,
        }
    }

    /// The host MSR accesses made so far.
    pub(crate) fn accesses(&self) -> u64 {
        self.accesses
    }
}

impl CounterBank for CpuBank<'_> {
    fn load(&mut self, aperf: u64, mperf: u64) {
        self.accesses += SWITCH_ACCESSES;
        // SAFETY: plain values; the helper checks that nothing is loaded.
        unsafe { bindings::aperfmperf_guest_load(aperf, mperf) }
    }

    fn put(&mut self) -> (u64, u64) {
        let (mut aperf, mut mperf) = (0, 0);
        self.accesses += SWITCH_ACCESSES;
        // SAFETY: writes the two locals only.
        unsafe { bindings::aperfmperf_guest_put(&mut aperf, &mut mperf) };
        (aperf, mperf)
    }

    fn read_loaded(&mut self) -> (u64, u64) {
        let (mut aperf, mut mperf) = (0, 0);
        self.accesses += READ_ACCESSES;
        // SAFETY: writes the two locals only.
        unsafe { bindings::aperfmperf_guest_read(&mut aperf, &mut mperf) };
        (aperf, mperf)
    }

    fn write_loaded(&mut self, counter: Counter, value: u64) {
        self.accesses += WRITE_ACCESSES;
        // SAFETY: plain values; the helper checks that guest values are
        // loaded on this CPU and that the index is APERF's or MPERF's.
        unsafe { bindings::aperfmperf_guest_write(counter.msr(), value) }
    }
}
