// SPDX-License-Identifier: GPL-2.0

//! KUnit suites, run when the module loads on a KUnit-enabled kernel.
//!
//! They drive the pure logic as compiled for the kernel (integer overflow
//! checks on, no `std`) and check it against what this host reports.

use kernel::prelude::*;

/// The registers the pure logic declares, against the kernel's
/// `asm/msr-index.h` (the logic cannot see the bindings).
#[kunit_tests(kvm_vcounters_regs)]
mod regs {
    use crate::logic::regs::*;
    use kernel::bindings;

    #[test]
    fn msr_indices_match_the_kernel() {
        assert_eq!(IA32_MPERF, bindings::MSR_IA32_MPERF);
        assert_eq!(IA32_APERF, bindings::MSR_IA32_APERF);
        assert_eq!(IA32_PMC0, bindings::MSR_IA32_PERFCTR0);
        assert_eq!(IA32_PERFEVTSEL0, bindings::MSR_P6_EVNTSEL0);
        assert_eq!(IA32_FIXED_CTR_CTRL, bindings::MSR_CORE_PERF_FIXED_CTR_CTRL);
        assert_eq!(IA32_PERF_GLOBAL_CTRL, bindings::MSR_CORE_PERF_GLOBAL_CTRL);
        assert_eq!(AMD_PERF_CTL0, bindings::MSR_F15H_PERF_CTL0);
        assert_eq!(AMD_PERF_CTR0, bindings::MSR_F15H_PERF_CTR0);
        assert_eq!(
            AMD_PERF_CNTR_GLOBAL_STATUS,
            bindings::MSR_AMD64_PERF_CNTR_GLOBAL_STATUS
        );
        assert_eq!(
            AMD_PERF_CNTR_GLOBAL_CTL,
            bindings::MSR_AMD64_PERF_CNTR_GLOBAL_CTL
        );
        assert_eq!(IA32_PERF_CAPABILITIES, bindings::MSR_IA32_PERF_CAPABILITIES);
        assert_eq!(IA32_VMX_ENTRY_CTLS, bindings::MSR_IA32_VMX_ENTRY_CTLS);
    }
}

#[kunit_tests(kvm_vcounters_cap)]
mod cap {
    use crate::aperfmperf::bank::GuestSwitching;
    use crate::logic::cap::{effective_aperfmperf_mode, enable, CapError, VcpuCaps};
    use crate::logic::uapi::{Features, Mode};
    use crate::{host, vendor::Vendor};

    #[test]
    fn vendor_is_detected() {
        // The module could not have loaded otherwise; the suite runs from
        // the loaded module.
        assert!(Vendor::detect().is_some());
    }

    #[test]
    fn host_always_offers_emulated_aperfmperf() {
        let caps = host::probe(Vendor::detect().unwrap(), GuestSwitching::enable().as_ref());
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
        let caps = host::probe(Vendor::detect().unwrap(), GuestSwitching::enable().as_ref());
        let run = effective_aperfmperf_mode(Mode::Run, &caps, VcpuCaps::default());
        if caps.aperfmperf {
            assert_eq!(run, Ok(Mode::Run));
        } else {
            assert_eq!(run, Err(CapError::NotSupported));
        }
    }

    #[test]
    fn extreme_arguments_do_not_overflow() {
        let caps = host::probe(Vendor::detect().unwrap(), GuestSwitching::enable().as_ref());
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
        // MPERF wrapped after 6 ticks and cleared APERF (the SDM's rule).
        assert_eq!(c.read(Counter::Aperf, 1_000_000, r), 4);
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

/// The host's switch helpers (the series' x86/aperfmperf patch), through
/// the module's bank, on the host's counters (`make check` boots the test
/// kernel on a CPU model whose APERF/MPERF count like silicon, APERF at 5/4
/// of MPERF). Where the counters are missing or do not keep writes, the
/// helpers must not be called at all: the MSRs may #GP.
#[kunit_tests(kvm_vcounters_host_switch)]
mod host_switch {
    use crate::aperfmperf::bank::{CpuBank, GuestSwitching};
    use crate::kvm::PreemptGuard;
    use crate::logic::switch::CounterBank;
    use kernel::bindings;

    fn host_view() -> (u64, u64) {
        let (mut aperf, mut mperf) = (0, 0);
        // SAFETY: writes the two locals; callers keep preemption off.
        unsafe { bindings::aperfmperf_read(&mut aperf, &mut mperf) };
        (aperf, mperf)
    }

    #[test]
    fn host_view_stays_continuous_while_guest_values_wrap() {
        let Some(_switching) = GuestSwitching::enable() else {
            kernel::pr_info!("no writable APERF/MPERF on this host: nothing to switch\n");
            return;
        };
        // Preemption off: the load and the put must hit the same CPU.
        // (Assertions come after: a failing one must not leave it off.)
        let (h0, h1, h2, g, accesses) = {
            let preempt = PreemptGuard::new();
            let mut bank = CpuBank::new(&preempt);
            let h0 = host_view();
            bank.load(u64::MAX - 3000, u64::MAX - 2000);
            // Spin until the guest's MPERF wrapped and then counted long
            // enough (2^26 cycles, ~25 ms) for the switch windows not to
            // matter much: under TCG the host may deschedule the vCPU
            // thread inside one, and the TSC jumps.
            let mut spins = 0u64;
            while !(1 << 26..1 << 32).contains(&bank.read_loaded().1) {
                spins += 1;
                if spins > 100_000_000 {
                    break;
                }
            }
            let h1 = host_view();
            let g = bank.put();
            (h0, h1, host_view(), g, bank.accesses())
        };
        let ((a0, m0), (a1, m1), (a2, m2), (ga, gm)) = (h0, h1, h2, g);
        // A load and a put: both counters read and written twice; and two
        // reads per spin.
        assert!(accesses >= 8 && (accesses - 8) % 2 == 0);
        // The guest's values wrapped like hardware counters.
        assert!((1 << 26..1 << 32).contains(&gm));
        // The host counted on through the guest's interval, at least what
        // the guest counted, at the same 5/4 ratio (within 5%: the reads
        // and writes of APERF and of MPERF are a few instructions apart,
        // in TSC time anything when TCG's thread is descheduled).
        assert!(m0 < m1 && m1 <= m2);
        assert!(a0 < a1 && a1 <= a2);
        let guest_m = gm.wrapping_sub(u64::MAX - 2000);
        let guest_a = ga.wrapping_sub(u64::MAX - 3000);
        assert!(m2 - m0 >= guest_m);
        let (da, dm) = (a2 - a0, m2 - m0);
        assert!(da >= dm + dm / 4 - dm / 20 && da <= dm + dm / 4 + dm / 20);
        assert!(guest_a >= guest_m + guest_m / 4 - guest_m / 20);
        assert!(guest_a <= guest_m + guest_m / 4 + guest_m / 20);
    }

    #[test]
    fn nothing_stays_loaded() {
        let Some(_switching) = GuestSwitching::enable() else {
            return;
        };
        // After a put the host reads its own values: a second load works
        // (the helper warns, and the kernel report fails the run, if a
        // load found guest values still in place).
        let m = {
            let preempt = PreemptGuard::new();
            let mut bank = CpuBank::new(&preempt);
            bank.load(1, 2);
            let _ = bank.put();
            bank.load(3, 4);
            bank.put().1
        };
        assert!(m >= 4);
    }
}
