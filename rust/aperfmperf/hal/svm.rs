// SPDX-License-Identifier: GPL-2.0

//! APERF/MPERF on AMD SVM.

use super::AperfMperfHal;

pub(super) struct Svm;

impl AperfMperfHal for Svm {
    fn guest_mperf_scaled(&self) -> bool {
        // The TSC ratio MSR scales the guest's TSC reads; nothing scales
        // a passed-through MPERF on every part KVM supports.
        false
    }
}
