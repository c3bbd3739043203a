// SPDX-License-Identifier: GPL-2.0

//! What differs between Intel VMX and AMD SVM for APERF/MPERF, one
//! implementation per vendor, chosen once at init.

mod svm;
mod vmx;

use crate::vendor::Vendor;

/// The per-vendor half of the APERF/MPERF feature.
pub(crate) trait AperfMperfHal: Sync {
    /// Whether guest reads of a passed-through MPERF count at the guest's
    /// scaled TSC rate. Where they do not, vCPUs with a scaled TSC emulate.
    fn guest_mperf_scaled(&self) -> bool;
}

/// The implementation for `vendor`.
pub(crate) fn for_vendor(vendor: Vendor) -> &'static dyn AperfMperfHal {
    match vendor {
        Vendor::Vmx => &vmx::Vmx,
        Vendor::Svm => &svm::Svm,
    }
}
