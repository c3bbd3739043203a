// SPDX-License-Identifier: GPL-2.0

//! Intel VMX backend.

use super::Vendor;
use crate::logic::cap::VendorKind;

/// The backend for kvm_intel.
pub(crate) struct Vmx;

impl Vendor for Vmx {
    fn kind(&self) -> VendorKind {
        VendorKind::Vmx
    }

    fn name(&self) -> &'static str {
        "kvm_intel"
    }

    fn guest_mperf_scaled(&self) -> bool {
        // The TSC multiplier applies to RDTSC, RDTSCP and RDMSR of
        // IA32_TSC only; a guest RDMSR of MPERF returns the raw count.
        false
    }
}
