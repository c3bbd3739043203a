// SPDX-License-Identifier: GPL-2.0

//! Virtualization-extension backends.
//!
//! Common logic lives once in the rest of the crate; what differs between
//! Intel VMX and AMD SVM sits behind [`Vendor`], with one implementation
//! per vendor, chosen once at module init the way KVM picks
//! `kvm_x86_ops` and `kvm_pmu_ops`.

mod svm;
mod vmx;

use crate::logic::cap::VendorKind;

/// The per-vendor half of the module.
pub(crate) trait Vendor: Sync {
    /// Which extension this backend drives.
    fn kind(&self) -> VendorKind;

    /// Name of the KVM vendor module this backend works with.
    fn name(&self) -> &'static str;

    /// Whether guest reads of a passed-through MPERF count at the guest's
    /// scaled TSC rate. Where they do not, vCPUs with a scaled TSC emulate.
    fn guest_mperf_scaled(&self) -> bool;
}

mod shim {
    extern "C" {
        pub(super) fn vcounters_host_has_vmx() -> bool;
        pub(super) fn vcounters_host_has_svm() -> bool;
    }
}

/// The backend for this host's CPU, if it has VMX or SVM.
pub(crate) fn detect() -> Option<&'static dyn Vendor> {
    // SAFETY: the shim only reads boot_cpu_data, which is set up long
    // before any module can load and never changes afterwards.
    let (has_vmx, has_svm) = unsafe {
        (
            shim::vcounters_host_has_vmx(),
            shim::vcounters_host_has_svm(),
        )
    };
    if has_vmx {
        Some(&vmx::Vmx)
    } else if has_svm {
        Some(&svm::Svm)
    } else {
        None
    }
}
