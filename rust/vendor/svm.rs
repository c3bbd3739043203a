// SPDX-License-Identifier: GPL-2.0

//! AMD SVM backend.

use super::Vendor;
use crate::logic::cap::VendorKind;

/// The backend for kvm_amd.
pub(crate) struct Svm;

impl Vendor for Svm {
    fn kind(&self) -> VendorKind {
        VendorKind::Svm
    }

    fn name(&self) -> &'static str {
        "kvm_amd"
    }

    fn guest_mperf_scaled(&self) -> bool {
        // The TSC ratio MSR scales the guest's TSC reads; nothing scales
        // a passed-through MPERF on every part KVM supports, so vCPUs
        // with a scaled TSC emulate, as on VMX.
        false
    }
}
