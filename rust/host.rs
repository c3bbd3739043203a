// SPDX-License-Identifier: GPL-2.0

//! What the host offers, probed once at module init.

use crate::aperfmperf::{bank, hal};
use crate::kvm;
use crate::logic::{
    cap::{effective_aperfmperf_mode, HostCaps, VcpuCaps},
    pmu::Refusal,
    uapi::Mode,
};
use crate::pmu;
use crate::vendor::Vendor;
use kernel::fmt;

/// The host's capabilities on `vendor`'s KVM, where guest APERF/MPERF
/// values can be loaded if `switching` holds.
pub(crate) fn probe(vendor: Vendor, switching: Option<&bank::GuestSwitching>) -> HostCaps {
    HostCaps {
        aperfmperf: switching.is_some(),
        pmu: kvm::host_mediated_pmu(),
        guest_mperf_scaled: hal::for_vendor(vendor).guest_mperf_scaled(),
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

/// Whether the PMU feature is offered, and if not, why.
pub(crate) struct PmuStatus {
    vendor: Vendor,
    /// KVM can mediate ([`HostCaps::pmu`]).
    mediated: bool,
    /// Why the vendor's rules say KVM cannot.
    refusal: Option<Refusal>,
}

impl PmuStatus {
    pub(crate) fn probe(vendor: Vendor, caps: &HostCaps) -> Self {
        Self {
            vendor,
            mediated: caps.pmu,
            refusal: pmu::hal::refusal(vendor),
        }
    }

    /// Where KVM mediates a PMU that the vendor's rules refuse: the rules
    /// are out of date for this CPU (KVM's decision stands).
    pub(crate) fn disagreement(&self) -> Option<Refusal> {
        self.refusal.filter(|_| self.mediated)
    }
}

impl fmt::Display for PmuStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.mediated, self.refusal) {
            (true, _) => write!(f, "offered per VM (KVM's mediated vPMU)"),
            (false, Some(r)) => write!(f, "not offered: this host has {r}"),
            (false, None) => write!(
                f,
                "not offered: {} was loaded without enable_mediated_pmu=1, or perf cannot mediate",
                self.vendor.kvm_module()
            ),
        }
    }
}
