// SPDX-License-Identifier: GPL-2.0

//! The hardware modes: a vCPU's APERF/MPERF live in the CPU's MSRs while
//! its context is loaded (RUN: vcpu_load to vcpu_put inside `KVM_RUN`;
//! ENTRY: VM-entry to VM-exit), and in memory otherwise.
//!
//! The MSRs themselves are reached through a [`CounterBank`]: in the
//! kernel, the host's switch helpers (`aperfmperf_guest_load` and friends,
//! which keep the host's view continuous); in tests, a simulated CPU. What
//! an access costs is the bank's business: each one counts its own.

use super::aperfmperf::{may_wrap_soon, Counter, Ratio, VirtualCounters};
use super::uapi::Mode;

/// One CPU's APERF/MPERF, as the host's switch helpers expose them.
pub trait CounterBank {
    /// Loads guest values; they count from here. The caller guarantees no
    /// guest values are loaded on this CPU.
    fn load(&mut self, aperf: u64, mperf: u64);
    /// Takes the loaded guest values off the CPU and returns them.
    fn put(&mut self) -> (u64, u64);
    /// The loaded guest values now.
    fn read_loaded(&mut self) -> (u64, u64);
    /// Sets one loaded guest counter (a guest WRMSR); the host's view stays
    /// continuous.
    fn write_loaded(&mut self, counter: Counter, value: u64);
}

/// A vCPU's counters in a hardware mode.
///
/// Invariant: values that [`may_wrap_soon`] are never loaded. A wrap in the
/// MSRs would clear the other counter there, and the host's view, which is
/// offset from the values loaded, would jump by up to 2^64; the owner
/// ([`GuestCounters`]) emulates such values instead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardwareCounters {
    /// The values while not loaded (`[APERF, MPERF]`).
    saved: [u64; 2],
    loaded: bool,
    /// The guest context is live (RUN: loaded; ENTRY: between the start
    /// and the stop of the live context, loaded only in guest mode).
    live: bool,
}

const fn slot(counter: Counter) -> usize {
    match counter {
        Counter::Aperf => 0,
        Counter::Mperf => 1,
    }
}

impl HardwareCounters {
    /// Counters holding `aperf` and `mperf`, not loaded.
    pub const fn with_values(aperf: u64, mperf: u64) -> Self {
        Self {
            saved: [aperf, mperf],
            loaded: false,
            live: false,
        }
    }

    /// Whether the values may wrap around if loaded (then they must not be).
    const fn may_wrap_soon(&self) -> bool {
        may_wrap_soon(self.saved[0], self.saved[1])
    }

    /// Puts the values in the MSRs.
    pub fn switch_in(&mut self, bank: &mut impl CounterBank) {
        if self.loaded || self.may_wrap_soon() {
            return;
        }
        bank.load(self.saved[0], self.saved[1]);
        self.loaded = true;
    }

    /// Takes the values out of the MSRs.
    pub fn switch_out(&mut self, bank: &mut impl CounterBank) {
        if !self.loaded {
            return;
        }
        let (aperf, mperf) = bank.put();
        self.saved = [aperf, mperf];
        self.loaded = false;
    }

    /// The value of `counter` now.
    pub fn read(&self, counter: Counter, bank: &mut impl CounterBank) -> u64 {
        if self.loaded {
            let (aperf, mperf) = bank.read_loaded();
            [aperf, mperf][slot(counter)]
        } else {
            self.saved[slot(counter)]
        }
    }

    /// Sets `counter` to `value`; counting goes on from it. A loaded
    /// counter is written in place (the bank moves the host's offset); a
    /// value that may wrap takes the counters out of the MSRs.
    pub fn write(&mut self, counter: Counter, value: u64, bank: &mut impl CounterBank) {
        // The other counter, loaded, is below 2^63 (checked at the load,
        // and decades from it): the new value alone decides.
        if self.loaded && !may_wrap_soon(value, 0) {
            bank.write_loaded(counter, value);
            return;
        }
        let was_loaded = self.loaded;
        self.switch_out(bank);
        self.saved[slot(counter)] = value;
        if was_loaded {
            self.switch_in(bank);
        }
    }

    /// The same values, emulated from `now` (live if this context is):
    /// for values that may wrap while loaded.
    fn emulated(&self, now: Now) -> VirtualCounters {
        debug_assert!(!self.loaded);
        let mut v = VirtualCounters::with_values(self.saved[0], self.saved[1]);
        if self.live {
            v.start(now.tsc);
        }
        v
    }
}

/// The instant an operation happens at, for EMULATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// The guest's TSC.
    pub tsc: u64,
    /// The host CPU's current APERF/MPERF ratio.
    pub ratio: Ratio,
}

/// A vCPU's APERF/MPERF in whichever mode it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestCounters {
    /// Computed from the guest TSC over the live time.
    Emulate(VirtualCounters),
    /// In the MSRs while loaded, switched at vcpu_load/vcpu_put.
    Run(HardwareCounters),
    /// In the MSRs while loaded, switched at VM-entry/exit.
    Entry(HardwareCounters),
}

impl GuestCounters {
    /// Zeroed counters for an effective `mode` (never `Auto`).
    pub const fn new(mode: Mode) -> Self {
        match mode {
            Mode::Run => Self::Run(HardwareCounters::with_values(0, 0)),
            Mode::Entry => Self::Entry(HardwareCounters::with_values(0, 0)),
            Mode::Auto | Mode::Emulate => Self::Emulate(VirtualCounters::new()),
        }
    }

    /// The effective mode.
    pub const fn mode(&self) -> Mode {
        match self {
            Self::Emulate(_) => Mode::Emulate,
            Self::Run(_) => Mode::Run,
            Self::Entry(_) => Mode::Entry,
        }
    }

    /// The mode a vCPU allowed `mode` runs in: a hardware mode only while
    /// its values cannot wrap while loaded; EMULATE, which applies the
    /// SDM's wrap rule in software, until they have wrapped there.
    pub fn effective_mode(&self, mode: Mode, now: Now, bank: &mut impl CounterBank) -> Mode {
        let aperf = self.read(Counter::Aperf, now, bank);
        let mperf = self.read(Counter::Mperf, now, bank);
        match mode {
            Mode::Run | Mode::Entry if may_wrap_soon(aperf, mperf) => Mode::Emulate,
            _ => mode,
        }
    }

    /// Moves to `mode`, keeping the values; to EMULATE instead if they may
    /// wrap while loaded ([`GuestCounters::mode`] tells). Call while the
    /// context is not live (the values are stable then).
    pub fn set_mode(&mut self, mode: Mode, now: Now, bank: &mut impl CounterBank) {
        if mode == self.mode() || (mode == Mode::Auto && self.mode() == Mode::Emulate) {
            return;
        }
        let aperf = self.read(Counter::Aperf, now, bank);
        let mperf = self.read(Counter::Mperf, now, bank);
        *self = Self::new(mode);
        self.write(Counter::Aperf, aperf, now, bank);
        self.write(Counter::Mperf, mperf, now, bank);
    }

    /// The context became live.
    pub fn live_start(&mut self, now: Now, bank: &mut impl CounterBank) {
        match self {
            Self::Emulate(c) => c.start(now.tsc),
            Self::Run(c) => {
                c.live = true;
                c.switch_in(bank);
            }
            Self::Entry(c) => c.live = true,
        }
    }

    /// The context stopped being live.
    pub fn live_stop(&mut self, now: Now, bank: &mut impl CounterBank) {
        match self {
            Self::Emulate(c) => c.stop(now.tsc, now.ratio),
            // Normally out already (VM-exit); a put between entries would
            // find it loaded only if a hook were missed.
            Self::Run(c) | Self::Entry(c) => {
                c.live = false;
                c.switch_out(bank);
            }
        }
    }

    /// VM-entry, IRQs off.
    pub fn guest_enter(&mut self, bank: &mut impl CounterBank) {
        if let Self::Entry(c) = self {
            c.switch_in(bank);
        }
    }

    /// VM-exit, IRQs off.
    pub fn guest_exit(&mut self, bank: &mut impl CounterBank) {
        if let Self::Entry(c) = self {
            c.switch_out(bank);
        }
    }

    /// The value of `counter` now.
    pub fn read(&self, counter: Counter, now: Now, bank: &mut impl CounterBank) -> u64 {
        match self {
            Self::Emulate(c) => c.read(counter, now.tsc, now.ratio),
            Self::Run(c) | Self::Entry(c) => c.read(counter, bank),
        }
    }

    /// Sets `counter` to `value`. In a hardware mode, values that may now
    /// wrap while loaded stay out of the MSRs: the counters move to EMULATE
    /// ([`GuestCounters::mode`] tells; the guest's reads must then be
    /// intercepted).
    pub fn write(&mut self, counter: Counter, value: u64, now: Now, bank: &mut impl CounterBank) {
        match self {
            Self::Emulate(c) => c.write(counter, value, now.tsc, now.ratio),
            Self::Run(c) | Self::Entry(c) => {
                c.write(counter, value, bank);
                if c.may_wrap_soon() {
                    *self = Self::Emulate(c.emulated(now));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod sim {
    //! A simulated CPU for tests: MPERF counts at the TSC rate, APERF at
    //! 5/4 of it, and the host's view is kept the way the kernel's switch
    //! helpers keep it, so a test can check both sides against the truth.

    use super::CounterBank;

    /// One simulated CPU.
    #[derive(Debug, Default)]
    pub struct SimCpu {
        /// The TSC; tests advance it.
        pub tsc: u64,
        /// Raw counter = f(tsc) + offset, per counter (`[APERF, MPERF]`).
        raw_off: [u64; 2],
        /// Host view = raw + this while a guest's values are loaded.
        host_off: Option<[u64; 2]>,
        /// TSC cycles the host lost inside switch windows.
        pub window: u64,
        /// Host MSR accesses made.
        pub accesses: u64,
    }

    fn f(i: usize, tsc: u64) -> u64 {
        if i == 0 {
            tsc + (tsc >> 2)
        } else {
            tsc
        }
    }

    impl SimCpu {
        fn raw(&mut self, i: usize) -> u64 {
            self.accesses += 1;
            f(i, self.tsc).wrapping_add(self.raw_off[i])
        }

        fn write(&mut self, i: usize, v: u64) {
            self.accesses += 1;
            self.raw_off[i] = v.wrapping_sub(f(i, self.tsc));
        }

        /// What the host reads now (`[APERF, MPERF]`).
        pub fn host(&self) -> [u64; 2] {
            let off = self.host_off.unwrap_or([0, 0]);
            [0, 1].map(|i| {
                f(i, self.tsc)
                    .wrapping_add(self.raw_off[i])
                    .wrapping_add(off[i])
            })
        }

        /// What the host would read had nothing been switched.
        pub fn truth(&self) -> [u64; 2] {
            [0, 1].map(|i| f(i, self.tsc))
        }

        /// A CPU at TSC `tsc` whose switches take `window` cycles from
        /// reading one side's values to writing the other's.
        pub fn new(tsc: u64, window: u64) -> Self {
            Self {
                tsc,
                window,
                ..Default::default()
            }
        }

        /// Whether guest values are loaded.
        pub fn loaded(&self) -> bool {
            self.host_off.is_some()
        }
    }

    impl CounterBank for SimCpu {
        fn load(&mut self, aperf: u64, mperf: u64) {
            assert!(self.host_off.is_none(), "load over loaded guest values");
            let host = [self.raw(0), self.raw(1)];
            // The window: the writes land a little later.
            self.tsc += self.window;
            self.write(0, aperf);
            self.write(1, mperf);
            self.host_off = Some([host[0].wrapping_sub(aperf), host[1].wrapping_sub(mperf)]);
        }

        fn put(&mut self) -> (u64, u64) {
            let off = self.host_off.take().expect("put without load");
            let guest = (self.raw(0), self.raw(1));
            self.tsc += self.window;
            self.write(0, guest.0.wrapping_add(off[0]));
            self.write(1, guest.1.wrapping_add(off[1]));
            guest
        }

        fn read_loaded(&mut self) -> (u64, u64) {
            assert!(self.host_off.is_some(), "read without load");
            (self.raw(0), self.raw(1))
        }

        fn write_loaded(&mut self, counter: super::Counter, value: u64) {
            let i = super::slot(counter);
            let raw = self.raw(i);
            self.tsc += self.window;
            self.write(i, value);
            let off = self.host_off.as_mut().expect("write without load");
            off[i] = off[i].wrapping_add(raw.wrapping_sub(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sim::SimCpu;
    use super::*;

    const NOW: Now = Now {
        tsc: 0,
        ratio: Ratio::ONE,
    };

    /// What the simulated CPU's accesses cost, as the kernel's helpers:
    /// a switch reads and writes both counters, a read reads both, a
    /// guest write reads and writes one.
    const SWITCH: u64 = 4;
    const READ: u64 = 2;
    const WRITE: u64 = 2;

    fn mperf(c: &GuestCounters, cpu: &mut SimCpu) -> u64 {
        c.read(Counter::Mperf, NOW, cpu)
    }

    /// The host MSR accesses `f` made on `cpu`.
    fn accesses(cpu: &mut SimCpu, f: impl FnOnce(&mut SimCpu)) -> u64 {
        let before = cpu.accesses;
        f(cpu);
        cpu.accesses - before
    }

    #[test]
    fn run_counts_loaded_time_only_and_host_stays_continuous() {
        let mut cpu = SimCpu::default();
        let mut g = GuestCounters::new(Mode::Run);
        cpu.tsc = 1000;
        assert_eq!(accesses(&mut cpu, |c| g.live_start(NOW, c)), SWITCH);
        cpu.tsc += 400; // guest runs, entries and exits cost nothing
        assert_eq!(
            accesses(&mut cpu, |c| {
                g.guest_enter(c);
                g.guest_exit(c)
            }),
            0
        );
        assert_eq!(mperf(&g, &mut cpu), 400);
        assert_eq!(accesses(&mut cpu, |c| g.live_stop(NOW, c)), SWITCH);
        cpu.tsc += 10_000; // preempted: not the guest's time
        assert_eq!(mperf(&g, &mut cpu), 400);
        assert_eq!(g.read(Counter::Aperf, NOW, &mut cpu), 500);
        // No window: the host lost nothing.
        assert_eq!(cpu.host(), cpu.truth());
        assert_eq!(cpu.accesses, 2 * SWITCH + READ);
    }

    #[test]
    fn entry_counts_guest_time_only() {
        let mut cpu = SimCpu::default();
        let mut g = GuestCounters::new(Mode::Entry);
        assert_eq!(accesses(&mut cpu, |c| g.live_start(NOW, c)), 0);
        for _ in 0..3 {
            assert_eq!(accesses(&mut cpu, |c| g.guest_enter(c)), SWITCH);
            cpu.tsc += 100;
            assert_eq!(accesses(&mut cpu, |c| g.guest_exit(c)), SWITCH);
            cpu.tsc += 1000; // exit handling in KVM
        }
        assert_eq!(accesses(&mut cpu, |c| g.live_stop(NOW, c)), 0);
        assert_eq!(mperf(&g, &mut cpu), 300);
        assert_eq!(cpu.host(), cpu.truth());
    }

    #[test]
    fn host_loses_only_the_windows() {
        let mut cpu = SimCpu::new(0, 7);
        let mut g = GuestCounters::new(Mode::Run);
        for _ in 0..5 {
            g.live_start(NOW, &mut cpu);
            cpu.tsc += 1000;
            g.live_stop(NOW, &mut cpu);
            cpu.tsc += 50;
        }
        let lost = cpu.truth()[1] - cpu.host()[1];
        assert_eq!(lost, 10 * 7);
        // The guest counts from its write to the read of the put.
        assert_eq!(mperf(&g, &mut cpu), 5 * 1000);
    }

    #[test]
    fn two_guests_share_a_cpu_and_see_only_their_own_time() {
        let mut cpu = SimCpu::default();
        let mut a = GuestCounters::new(Mode::Run);
        let mut b = GuestCounters::new(Mode::Entry);
        for i in 0..10u64 {
            a.live_start(NOW, &mut cpu);
            cpu.tsc += 100 + i;
            a.live_stop(NOW, &mut cpu);
            b.live_start(NOW, &mut cpu);
            b.guest_enter(&mut cpu);
            cpu.tsc += 200;
            b.guest_exit(&mut cpu);
            cpu.tsc += 5;
            b.live_stop(NOW, &mut cpu);
        }
        assert_eq!(mperf(&a, &mut cpu), 1000 + 45);
        assert_eq!(mperf(&b, &mut cpu), 2000);
        assert_eq!(cpu.host(), cpu.truth());
        assert!(!cpu.loaded());
    }

    #[test]
    fn writes_while_loaded_keep_the_host_right() {
        let mut cpu = SimCpu::new(1 << 20, 0);
        let mut g = GuestCounters::new(Mode::Run);
        g.live_start(NOW, &mut cpu);
        let acc = accesses(&mut cpu, |c| g.write(Counter::Mperf, (1 << 62) - 9, NOW, c));
        assert_eq!(acc, WRITE);
        cpu.tsc += 30;
        assert_eq!(mperf(&g, &mut cpu), (1 << 62) + 21);
        g.write(Counter::Aperf, 5, NOW, &mut cpu);
        cpu.tsc += 4;
        assert_eq!(g.read(Counter::Aperf, NOW, &mut cpu), 10);
        g.live_stop(NOW, &mut cpu);
        assert_eq!(cpu.host(), cpu.truth());
        assert_eq!(mperf(&g, &mut cpu), (1 << 62) + 25);
    }

    #[test]
    fn a_guest_write_costs_the_host_one_window_of_one_counter() {
        let mut cpu = SimCpu::new(0, 7);
        let mut g = GuestCounters::new(Mode::Run);
        g.live_start(NOW, &mut cpu);
        let before = cpu.accesses;
        for v in 0..10 {
            let acc = accesses(&mut cpu, |c| g.write(Counter::Mperf, v << 20, NOW, c));
            assert_eq!(acc, WRITE);
        }
        assert_eq!(cpu.accesses - before, 10 * WRITE);
        g.live_stop(NOW, &mut cpu);
        let lost = [0, 1].map(|i| cpu.truth()[i] - cpu.host()[i]);
        // Load and put: one window each for both (APERF at 5/4 of the
        // cycles); the ten writes: one window each for MPERF only.
        assert_eq!(lost, [14 + 14 / 4, 12 * 7]);
    }

    #[test]
    fn values_that_may_wrap_never_reach_the_msrs() {
        for mode in [Mode::Run, Mode::Entry] {
            let mut cpu = SimCpu::new(1 << 20, 0);
            let mut g = GuestCounters::new(mode);
            let at = |tsc| Now {
                tsc,
                ratio: Ratio::new(5, 4),
            };
            g.live_start(at(0), &mut cpu);
            g.guest_enter(&mut cpu);
            g.guest_exit(&mut cpu);
            let before = cpu.accesses;
            // A guest WRMSR near 2^64, while live: out of the MSRs, emulated.
            g.write(Counter::Aperf, u64::MAX - 999, at(100), &mut cpu);
            assert_eq!(g.mode(), Mode::Emulate);
            assert!(!cpu.loaded());
            // APERF wraps 800 ticks later; MPERF is cleared then (SDM).
            assert_eq!(g.read(Counter::Aperf, at(1100), &mut cpu), 250);
            assert_eq!(g.read(Counter::Mperf, at(1100), &mut cpu), 200);
            g.guest_enter(&mut cpu);
            g.guest_exit(&mut cpu);
            g.live_stop(at(1100), &mut cpu);
            assert!(cpu.accesses - before <= SWITCH);
            assert_eq!(cpu.host(), cpu.truth());
            // Wrapped: the hardware mode fits again at the next KVM_RUN.
            assert_eq!(g.effective_mode(mode, at(1100), &mut cpu), mode);
            g.set_mode(mode, at(1100), &mut cpu);
            assert_eq!(g.mode(), mode);
            // KVM_SET_MSRS near 2^64 outside KVM_RUN: EMULATE at the next.
            g.write(Counter::Mperf, 1 << 63, at(1100), &mut cpu);
            assert_eq!(g.effective_mode(mode, at(1100), &mut cpu), Mode::Emulate);
            assert_eq!(g.mode(), Mode::Emulate);
            g.set_mode(mode, at(1100), &mut cpu);
            assert_eq!(g.mode(), Mode::Emulate);
            assert_eq!(accesses(&mut cpu, |c| g.live_start(at(1200), c)), 0);
            assert!(!cpu.loaded());
        }
    }

    #[test]
    fn mode_changes_keep_the_values() {
        let mut cpu = SimCpu::default();
        let mut g = GuestCounters::new(Mode::Emulate);
        let now = Now {
            tsc: 10,
            ratio: Ratio::ONE,
        };
        g.write(Counter::Mperf, 123, now, &mut cpu);
        g.write(Counter::Aperf, 456, now, &mut cpu);
        g.set_mode(Mode::Run, now, &mut cpu);
        assert_eq!(g.mode(), Mode::Run);
        assert_eq!(mperf(&g, &mut cpu), 123);
        g.set_mode(Mode::Emulate, now, &mut cpu);
        assert_eq!(g.mode(), Mode::Emulate);
        assert_eq!(g.read(Counter::Aperf, now, &mut cpu), 456);
        assert_eq!(cpu.accesses, 0);
    }
}
