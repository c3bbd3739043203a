// SPDX-License-Identifier: GPL-2.0

//! What the host CPU offers, read once at module init.

use crate::logic::{
    aperfmperf::{Counter, Ratio},
    cap::{effective_aperfmperf_mode, HostCaps, VcpuCaps},
    switch::CounterBank,
    uapi::Mode,
};
use crate::vendor::Vendor;
use kernel::{bindings, fmt};

mod shim {
    extern "C" {
        pub(super) fn vcounters_host_has_aperfmperf() -> bool;
        pub(super) fn vcounters_host_sample(acnt: *mut u64, mcnt: *mut u64) -> bool;
    }
}

/// Whether the host CPUs have APERF/MPERF (X86_FEATURE_APERFMPERF).
pub(crate) fn has_aperfmperf() -> bool {
    // SAFETY: the shim only reads boot_cpu_data, which is set up long
    // before any module can load and never changes afterwards.
    unsafe { shim::vcounters_host_has_aperfmperf() }
}

/// Whether guest APERF/MPERF values can be loaded into this host's CPUs:
/// they have the counters and every one keeps what is written to them.
/// Hosts nested under a hypervisor that passes only the reads through have
/// counters that drop or fault writes; RUN and ENTRY would hand a guest the
/// host's counts there. Probes every CPU: call from process context, with
/// no guest values loaded.
pub(crate) fn counters_switchable() -> bool {
    // SAFETY: the helper probes each CPU with IRQs off and the safe MSR
    // accessors, restoring the host's counts; no guest values are loaded
    // at module init, nor while the KUnit suites run.
    has_aperfmperf() && unsafe { bindings::aperfmperf_guest_switch_ok() }
}

/// Reads the host's capabilities for `vendor`.
pub(crate) fn probe(vendor: &dyn Vendor) -> HostCaps {
    HostCaps {
        vendor: vendor.kind(),
        aperfmperf: counters_switchable(),
        // No mediated PMU backend yet.
        pmu: false,
        guest_mperf_scaled: vendor.guest_mperf_scaled(),
    }
}

/// This CPU's APERF/MPERF ratio over the last scheduler tick, the sample
/// the kernel keeps for frequency invariance; 1:1 where there is none (no
/// APERFMPERF, or an idle CPU). Call with preemption disabled.
pub(crate) fn current_ratio() -> Ratio {
    let (mut acnt, mut mcnt) = (0, 0);
    // SAFETY: the shim reads this CPU's sample under its seqcount into
    // the two locals; the caller keeps preemption off.
    if unsafe { shim::vcounters_host_sample(&mut acnt, &mut mcnt) } {
        Ratio::new(acnt, mcnt)
    } else {
        Ratio::ONE
    }
}

/// This CPU's APERF/MPERF, through the kernel's switch helpers, which keep
/// the host's view continuous while a guest's values are loaded.
///
/// Use it with preemption disabled (inside `VcpuCell::with`), so that a
/// load and its put happen on the same CPU; the helpers disable IRQs
/// themselves around each switch.
pub(crate) struct CpuBank;

impl CounterBank for CpuBank {
    fn load(&mut self, aperf: u64, mperf: u64) {
        // SAFETY: plain values; the helper checks that nothing is loaded.
        unsafe { bindings::aperfmperf_guest_load(aperf, mperf) }
    }

    fn put(&mut self) -> (u64, u64) {
        let (mut aperf, mut mperf) = (0, 0);
        // SAFETY: writes the two locals only.
        unsafe { bindings::aperfmperf_guest_put(&mut aperf, &mut mperf) };
        (aperf, mperf)
    }

    fn read_loaded(&mut self) -> (u64, u64) {
        let (mut aperf, mut mperf) = (0, 0);
        // SAFETY: writes the two locals only.
        unsafe { bindings::aperfmperf_guest_read(&mut aperf, &mut mperf) };
        (aperf, mperf)
    }

    fn write_loaded(&mut self, counter: Counter, value: u64) {
        // SAFETY: plain values; the helper checks that guest values are
        // loaded on this CPU and that the index is APERF's or MPERF's.
        unsafe { bindings::aperfmperf_guest_write(counter.msr(), value) }
    }
}

/// Formats the APERF/MPERF modes a vCPU without TSC scaling can get.
pub(crate) struct ModeList<'a>(pub(crate) &'a HostCaps);

impl fmt::Display for ModeList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for mode in Mode::ALL {
            if mode == Mode::Auto {
                continue;
            }
            if effective_aperfmperf_mode(mode, self.0, VcpuCaps::default()).is_ok() {
                write!(f, "{sep}{mode:?}")?;
                sep = ",";
            }
        }
        Ok(())
    }
}
