// SPDX-License-Identifier: GPL-2.0

//! KUnit suites, run when the module loads on a KUnit-enabled kernel.
//!
//! They drive the pure logic as compiled for the kernel (integer overflow
//! checks on, no `std`) and check it against what this host reports.

use kernel::prelude::*;

#[kunit_tests(kvm_vcounters_cap)]
mod cap {
    use crate::logic::cap::{effective_aperfmperf_mode, enable, CapError, VcpuCaps};
    use crate::logic::uapi::{Features, Mode};
    use crate::{host, vendor};

    #[test]
    fn vendor_is_detected() {
        // The module could not have loaded otherwise; the suite runs from
        // the loaded module.
        assert!(vendor::detect().is_some());
    }

    #[test]
    fn host_always_offers_emulated_aperfmperf() {
        let caps = host::probe(vendor::detect().unwrap());
        assert!(caps.supported_features().contains(Features::APERFMPERF));
        let cfg = enable(
            [Features::APERFMPERF.bits(), Mode::Emulate as u64, 0, 0],
            0,
            &caps,
        );
        assert_eq!(cfg.map(|c| c.aperfmperf_mode), Ok(Mode::Emulate));
    }

    #[test]
    fn hardware_modes_follow_host_aperfmperf() {
        let caps = host::probe(vendor::detect().unwrap());
        let run = effective_aperfmperf_mode(Mode::Run, &caps, VcpuCaps::default());
        if caps.aperfmperf {
            assert_eq!(run, Ok(Mode::Run));
        } else {
            assert_eq!(run, Err(CapError::NotSupported));
        }
    }

    #[test]
    fn extreme_arguments_do_not_overflow() {
        let caps = host::probe(vendor::detect().unwrap());
        let max = u64::MAX;
        assert_eq!(enable([max; 4], u32::MAX, &caps), Err(CapError::Invalid));
        assert_eq!(enable([1, max, max, 0], 0, &caps), Err(CapError::Invalid));
    }
}
