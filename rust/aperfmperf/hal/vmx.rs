// SPDX-License-Identifier: GPL-2.0

//! APERF/MPERF on Intel VMX.

use super::AperfMperfHal;

pub(super) struct Vmx;

impl AperfMperfHal for Vmx {
    fn guest_mperf_scaled(&self) -> bool {
        // The TSC multiplier applies to RDTSC, RDTSCP and RDMSR of
        // IA32_TSC only; a guest RDMSR of MPERF returns the raw count.
        false
    }
}
