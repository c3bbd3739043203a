// SPDX-License-Identifier: GPL-2.0

//! What the host CPU offers, read once at module init.

use crate::logic::{
    aperfmperf::Ratio,
    cap::{effective_aperfmperf_mode, HostCaps, VcpuCaps},
    uapi::Mode,
};
use crate::vendor::Vendor;
use kernel::fmt;

mod shim {
    extern "C" {
        pub(super) fn vcounters_host_has_aperfmperf() -> bool;
        pub(super) fn vcounters_host_sample(acnt: *mut u64, mcnt: *mut u64) -> bool;
    }
}

/// Whether this module switches hardware APERF/MPERF (RUN and ENTRY
/// modes). Until the vendor backends do, no host is offered them, even
/// one whose CPU has the counters: AUTO then means EMULATE.
const HARDWARE_MODES: bool = false;

/// Reads the host's capabilities for `vendor`.
pub(crate) fn probe(vendor: &dyn Vendor) -> HostCaps {
    HostCaps {
        vendor: vendor.kind(),
        // SAFETY: the shim only reads boot_cpu_data, which is set up long
        // before any module can load and never changes afterwards.
        aperfmperf: HARDWARE_MODES && unsafe { shim::vcounters_host_has_aperfmperf() },
        // No mediated PMU backend yet.
        pmu: false,
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
