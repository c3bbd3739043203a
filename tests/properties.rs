// SPDX-License-Identifier: GPL-2.0

//! Property tests: random sequences of vCPU events (KVM_RUN entry/exit,
//! load/put, halt, guest write, host set, migration to a fresh vCPU)
//! drive the live-time clock and the virtual counters the way the module
//! does, against a simple model:
//!
//! - the counters never advance while the context is not live;
//! - they never go backwards unless written;
//! - APERF and MPERF deltas follow the ratio;
//! - when one wraps around, the other is cleared (the SDM's rule);
//! - no arithmetic panics, u64 wrap included (start values near 2^64).
//!
//! The generator is a seeded xorshift; a failure prints the seed, and
//! `VCOUNTERS_SEED=<seed> cargo test --test properties` replays it.

use vcounters_logic::aperfmperf::{Counter, Ratio, VirtualCounters};
use vcounters_logic::live::LiveClock;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One simulated vCPU: the module's per-vCPU state plus the model.
struct Sim {
    clock: LiveClock,
    counters: VirtualCounters,
    ratio: Ratio,
    /// Guest TSC; advances with time whether or not the vCPU is live.
    tsc: u64,
    /// Model: inside KVM_RUN, loaded, halted (kept apart from LiveClock).
    in_run: bool,
    loaded: bool,
    halted: bool,
    /// Model: MPERF is `mperf_base` plus the live ticks since it was set
    /// (a write, or a clear when APERF wrapped); APERF is `aperf_base` plus
    /// the scaled live ticks since it was set.
    mperf_base: u64,
    mperf_live: u64,
    aperf_base: u64,
    aperf_live: u64,
    /// Model: a wrap cleared a counter during the last passage of time.
    cleared: bool,
    /// Model: MPERF may differ by this much: when APERF wraps, the module
    /// finds the instant from its APERF, which may trail the model's by
    /// a few ticks (one per live interval).
    mperf_slack: u64,
}

impl Sim {
    fn new(ratio: Ratio, start: u64) -> Self {
        let mut counters = VirtualCounters::new();
        counters.write(Counter::Mperf, start, 0, ratio);
        counters.write(Counter::Aperf, start, 0, ratio);
        Self {
            clock: LiveClock::new(),
            counters,
            ratio,
            tsc: 0,
            in_run: false,
            loaded: false,
            halted: false,
            mperf_base: start,
            mperf_live: 0,
            aperf_base: start,
            aperf_live: 0,
            cleared: false,
            mperf_slack: 0,
        }
    }

    /// Applies one clock event the way `counters.rs` does: a context that
    /// starts or stops being live starts or stops the counters.
    fn event(&mut self, f: fn(&mut LiveClock, u64) -> vcounters_logic::live::Transition) {
        let tr = f(&mut self.clock, self.tsc);
        if tr.started {
            self.counters.start(self.tsc);
        }
        if tr.stopped.is_some() {
            self.counters.stop(self.tsc, self.ratio);
        }
    }

    fn model_aperf(&self, live: u64) -> (u64, bool) {
        self.aperf_base.overflowing_add(self.ratio.scale(live))
    }

    fn pass_time(&mut self, ticks: u64) {
        self.tsc += ticks;
        self.cleared = false;
        if !(self.in_run && self.loaded && !self.halted) {
            return;
        }
        let mut left = ticks;
        while left > 0 {
            // Live ticks until MPERF wraps (to 0), and until APERF does
            // (found by bisection over the model's own scaling).
            let m_now = self.mperf_base.wrapping_add(self.mperf_live);
            let m_wrap = (m_now != 0 && m_now.wrapping_neg() <= left).then(|| m_now.wrapping_neg());
            let a_wrap = self.model_aperf(self.aperf_live + left).1.then(|| {
                let (mut lo, mut hi) = (0, left);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if self.model_aperf(self.aperf_live + mid).1 {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                hi
            });
            match (m_wrap, a_wrap) {
                (Some(k), a) if a.is_none_or(|a| k <= a) => {
                    // MPERF wraps after k: APERF is cleared then.
                    self.mperf_base = 0;
                    self.mperf_live = 0;
                    self.aperf_base = 0;
                    self.aperf_live = 0;
                    self.cleared = true;
                    left -= k;
                }
                (_, Some(k)) => {
                    // APERF wraps after k: MPERF is cleared then.
                    self.aperf_base = self.model_aperf(self.aperf_live + k).0;
                    self.aperf_live = 0;
                    self.mperf_base = 0;
                    self.mperf_live = 0;
                    self.mperf_slack = 64;
                    self.cleared = true;
                    left -= k;
                }
                _ => {
                    self.mperf_live += left;
                    self.aperf_live += left;
                    left = 0;
                }
            }
        }
    }

    fn read(&self, c: Counter) -> u64 {
        self.counters.read(c, self.tsc, self.ratio)
    }

    fn check(&self, seed: u64, step: usize) {
        let mperf = self.mperf_base.wrapping_add(self.mperf_live);
        let aperf = self.model_aperf(self.aperf_live).0;
        let got = self.read(Counter::Mperf);
        assert!(
            got.wrapping_sub(mperf).min(mperf.wrapping_sub(got)) <= self.mperf_slack,
            "seed {seed} step {step}: MPERF {got} vs model {mperf}"
        );
        // The module scales each live interval on its own, so APERF may
        // trail the model by one tick per interval for a ratio that does
        // not divide evenly; it runs ahead by at most a tick after a clear.
        let got = self.read(Counter::Aperf);
        let lag = aperf.wrapping_sub(got);
        assert!(
            lag <= 64 || got.wrapping_sub(aperf) <= 1,
            "seed {seed} step {step}: APERF {got} vs model {aperf}"
        );
    }
}

fn run(seed: u64, steps: usize) {
    let mut rng = Rng(seed | 1);
    let ratio = match rng.below(3) {
        0 => Ratio::ONE,
        1 => Ratio::new(5, 4),
        _ => Ratio::new(3, 7),
    };
    // Start near the wrap point half of the time.
    let start = if rng.below(2) == 0 {
        u64::MAX - rng.below(1 << 20)
    } else {
        0
    };
    let mut sim = Sim::new(ratio, start);
    let mut prev = (sim.read(Counter::Mperf), sim.read(Counter::Aperf));

    for step in 0..steps {
        let written = match rng.below(9) {
            0 => {
                sim.event(LiveClock::run_enter);
                (sim.in_run, sim.loaded, sim.halted) = (true, true, false);
                false
            }
            1 => {
                sim.event(LiveClock::run_exit);
                (sim.in_run, sim.halted) = (false, false);
                false
            }
            2 => {
                sim.event(LiveClock::load);
                sim.loaded = true;
                false
            }
            3 => {
                sim.event(LiveClock::put);
                sim.loaded = false;
                false
            }
            4 => {
                sim.event(LiveClock::block_begin);
                sim.halted = true;
                false
            }
            5 => {
                sim.event(LiveClock::block_end);
                sim.halted = false;
                false
            }
            6 => {
                // Guest WRMSR or host KVM_SET_MSRS of one counter.
                let v = rng.next();
                if rng.below(2) == 0 {
                    sim.counters.write(Counter::Mperf, v, sim.tsc, ratio);
                    sim.mperf_base = v;
                    sim.mperf_live = 0;
                    sim.mperf_slack = 0;
                } else {
                    sim.counters.write(Counter::Aperf, v, sim.tsc, ratio);
                    sim.aperf_base = v;
                    sim.aperf_live = 0;
                }
                true
            }
            7 => {
                // Migration: KVM_GET_MSRS, then KVM_SET_MSRS into a fresh
                // vCPU that is not running yet.
                let (m, a) = (sim.read(Counter::Mperf), sim.read(Counter::Aperf));
                sim.event(LiveClock::run_exit);
                let mut fresh = Sim::new(ratio, 0);
                fresh.loaded = sim.loaded;
                fresh.counters.write(Counter::Mperf, m, 0, ratio);
                fresh.counters.write(Counter::Aperf, a, 0, ratio);
                fresh.mperf_base = m;
                fresh.aperf_base = a;
                fresh.tsc = sim.tsc;
                // The fresh vCPU is created loaded-or-not like the old one
                // but outside KVM_RUN; bring its clock to the same state.
                if fresh.loaded {
                    fresh.event(LiveClock::load);
                }
                sim = fresh;
                true
            }
            _ => {
                sim.pass_time(1 + rng.below(1 << 16));
                false
            }
        };
        sim.check(seed, step);
        let now = (sim.read(Counter::Mperf), sim.read(Counter::Aperf));
        if !written && !sim.cleared {
            // Monotonic modulo 2^64: a delta is small, never "negative".
            assert!(
                now.0.wrapping_sub(prev.0) < 1 << 40,
                "seed {seed} step {step}: MPERF back"
            );
            assert!(
                now.1.wrapping_sub(prev.1) < 1 << 41,
                "seed {seed} step {step}: APERF back"
            );
            if !sim.clock.is_live() && now != prev {
                // Only a passage of time while live may move them, and
                // that was the previous step: recheck against the model.
                sim.check(seed, step);
            }
        }
        prev = now;
    }
}

#[test]
fn random_event_sequences() {
    let seeds: Vec<u64> = match std::env::var("VCOUNTERS_SEED") {
        Ok(s) => vec![s.parse().expect("VCOUNTERS_SEED is a number")],
        Err(_) => (1..=200u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect(),
    };
    for seed in seeds {
        run(seed, 2000);
    }
}

#[test]
fn not_live_means_not_counting() {
    let mut sim = Sim::new(Ratio::ONE, 0);
    sim.event(LiveClock::load); // ioctl outside KVM_RUN
    sim.pass_time(1000);
    assert_eq!(sim.read(Counter::Mperf), 0);
    sim.event(LiveClock::run_enter);
    sim.event(LiveClock::block_begin);
    sim.pass_time(1000);
    assert_eq!(sim.read(Counter::Mperf), 0);
    sim.event(LiveClock::block_end);
    sim.pass_time(10);
    assert_eq!(sim.read(Counter::Mperf), 10);
}
