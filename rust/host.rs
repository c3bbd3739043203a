// SPDX-License-Identifier: GPL-2.0

//! What the host offers, probed once at module init.

use crate::aperfmperf::{bank, hal};
use crate::kvm;
use crate::logic::{
    cap::{effective_aperfmperf_mode, HostCaps, VcpuCaps},
    uapi::Mode,
};
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
