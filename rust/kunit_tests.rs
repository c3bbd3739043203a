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

#[kunit_tests(kvm_vcounters_live)]
mod live {
    use crate::logic::live::LiveClock;

    #[test]
    fn preempted_and_halted_time_is_not_live() {
        let mut c = LiveClock::new();
        assert!(c.run_enter(100).started);
        assert_eq!(c.put(150).stopped, Some(50));
        assert!(c.load(400).started);
        c.block_begin(420);
        assert_eq!(c.block_end(1000).halted, Some(580));
        assert_eq!(c.run_exit(1010).stopped, Some(10));
        assert!(!c.is_live());
    }

    #[test]
    fn extreme_clock_values_do_not_overflow() {
        // Integer overflow checks are on in this kernel: a panic here
        // would be an oops.
        let mut c = LiveClock::new();
        c.run_enter(u64::MAX);
        assert_eq!(c.put(0).stopped, Some(0));
        c.load(0);
        assert_eq!(c.put(u64::MAX).stopped, Some(u64::MAX));
    }
}

#[kunit_tests(kvm_vcounters_aperfmperf)]
mod aperfmperf {
    use crate::logic::aperfmperf::{Counter, Ratio, VirtualCounters};

    #[test]
    fn counts_live_ticks_and_wraps() {
        let r = Ratio::new(1, 1);
        let mut c = VirtualCounters::new();
        c.write(Counter::Mperf, u64::MAX - 5, 0, r);
        c.start(100);
        assert_eq!(c.read(Counter::Mperf, 110, r), 4);
        c.stop(110, r);
        assert_eq!(c.read(Counter::Mperf, 1_000_000, r), 4);
        assert_eq!(c.read(Counter::Aperf, 1_000_000, r), 10);
    }

    #[test]
    fn extreme_ratio_saturates() {
        // Overflow checks are on: this must not oops.
        let r = Ratio::new(u64::MAX, 1);
        let mut c = VirtualCounters::new();
        c.start(0);
        c.stop(u64::MAX, r);
        assert_eq!(c.read(Counter::Aperf, 0, r), u64::MAX);
    }
}
