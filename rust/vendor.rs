// SPDX-License-Identifier: GPL-2.0

//! Which virtualization extension KVM runs on, detected once at init. The
//! code that differs per vendor lives under the feature it serves (e.g.
//! [`crate::aperfmperf::hal`]), the way KVM keeps `kvm_pmu_ops` next to
//! the PMU.

use crate::shim;

/// The virtualization extension of this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Vendor {
    /// Intel VMX (kvm_intel).
    Vmx,
    /// AMD SVM (kvm_amd).
    Svm,
}

impl Vendor {
    /// This host's, if it has VMX or SVM.
    pub(crate) fn detect() -> Option<Self> {
        // SAFETY: the shim only reads boot_cpu_data, which is set up long
        // before any module can load and never changes afterwards.
        let (has_vmx, has_svm) = unsafe {
            (
                shim::vcounters_host_has_vmx(),
                shim::vcounters_host_has_svm(),
            )
        };
        if has_vmx {
            Some(Self::Vmx)
        } else if has_svm {
            Some(Self::Svm)
        } else {
            None
        }
    }

    /// The KVM vendor module this extension works with.
    pub(crate) fn kvm_module(self) -> &'static str {
        match self {
            Self::Vmx => "kvm_intel",
            Self::Svm => "kvm_amd",
        }
    }
}
