// SPDX-License-Identifier: GPL-2.0

//! When a vCPU's guest counter context is live, and for how long.
//!
//! The context is live from `KVM_RUN` entry (or the `vcpu_load` that
//! resumes a preempted run) to `vcpu_put` (preemption), a halt or block,
//! or the return to userspace. Only live time advances the guest's
//! counters; halted time inside `KVM_RUN` is accounted separately. The
//! clock is whatever monotonic time base the caller passes (nanoseconds
//! for the stats); it never goes backwards, but the arithmetic tolerates
//! it (saturating) and wraps instead of overflowing.

/// Totals since the vCPU was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveTotals {
    /// Time the context was live.
    pub live: u64,
    /// Time halted or blocked inside `KVM_RUN`.
    pub halted: u64,
    /// Times the context became live or stopped being live.
    pub switches: u64,
}

/// The accounting state of one vCPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveClock {
    in_run: bool,
    loaded: bool,
    halted: bool,
    /// Start of the current live interval, when live.
    live_since: u64,
    /// Start of the current halt, when halted.
    halted_since: u64,
    totals: LiveTotals,
}

/// What one event changed, for the caller to act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transition {
    /// The context became live.
    pub started: bool,
    /// The context stopped being live after this long.
    pub stopped: Option<u64>,
    /// A halt ended after this long.
    pub halted: Option<u64>,
}

impl LiveClock {
    /// A vCPU that has never run, loaded or not.
    pub const fn new() -> Self {
        Self {
            in_run: false,
            loaded: false,
            halted: false,
            live_since: 0,
            halted_since: 0,
            totals: LiveTotals {
                live: 0,
                halted: 0,
                switches: 0,
            },
        }
    }

    /// Whether the guest counter context is live.
    pub const fn is_live(&self) -> bool {
        self.in_run && self.loaded && !self.halted
    }

    /// The totals, including the running intervals up to `now`.
    #[cfg(test)]
    pub fn totals(&self, now: u64) -> LiveTotals {
        let mut t = self.totals;
        if self.is_live() {
            t.live = t.live.wrapping_add(now.saturating_sub(self.live_since));
        }
        if self.in_run && self.halted {
            t.halted = t.halted.wrapping_add(now.saturating_sub(self.halted_since));
        }
        t
    }

    /// Applies `change` at `now` and accounts for what it did.
    fn event(&mut self, now: u64, change: impl FnOnce(&mut Self)) -> Transition {
        let was_live = self.is_live();
        let was_halted = self.in_run && self.halted;
        change(self);
        let mut tr = Transition::default();
        if was_live && !self.is_live() {
            let d = now.saturating_sub(self.live_since);
            self.totals.live = self.totals.live.wrapping_add(d);
            self.totals.switches = self.totals.switches.wrapping_add(1);
            tr.stopped = Some(d);
        } else if !was_live && self.is_live() {
            self.live_since = now;
            self.totals.switches = self.totals.switches.wrapping_add(1);
            tr.started = true;
        }
        let halted = self.in_run && self.halted;
        if was_halted && !halted {
            let d = now.saturating_sub(self.halted_since);
            self.totals.halted = self.totals.halted.wrapping_add(d);
            tr.halted = Some(d);
        } else if !was_halted && halted {
            self.halted_since = now;
        }
        tr
    }

    /// `KVM_RUN` entry; the vCPU is loaded (KVM loads it first).
    pub fn run_enter(&mut self, now: u64) -> Transition {
        self.event(now, |s| {
            s.in_run = true;
            s.loaded = true;
            s.halted = false;
        })
    }

    /// `KVM_RUN` exit, before the vCPU is put.
    pub fn run_exit(&mut self, now: u64) -> Transition {
        self.event(now, |s| {
            s.in_run = false;
            s.halted = false;
        })
    }

    /// `vcpu_load`: inside or outside `KVM_RUN`.
    pub fn load(&mut self, now: u64) -> Transition {
        self.event(now, |s| s.loaded = true)
    }

    /// `vcpu_put`: preemption, or the end of an ioctl.
    pub fn put(&mut self, now: u64) -> Transition {
        self.event(now, |s| s.loaded = false)
    }

    /// The vCPU halts or blocks inside `KVM_RUN`.
    pub fn block_begin(&mut self, now: u64) -> Transition {
        self.event(now, |s| s.halted = true)
    }

    /// The halt or block ended.
    pub fn block_end(&mut self, now: u64) -> Transition {
        self.event(now, |s| s.halted = false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_only_inside_run_while_loaded_and_not_halted() {
        let mut c = LiveClock::new();
        c.load(0); // an ioctl outside KVM_RUN
        assert!(!c.is_live());
        c.put(5);
        c.load(10);
        assert!(c.run_enter(10).started);
        assert_eq!(c.put(30).stopped, Some(20)); // preempted
        assert!(c.load(50).started); // 20 ns preempted: not counted
        c.block_begin(60);
        assert_eq!(c.block_end(90).halted, Some(30));
        c.run_exit(100);
        c.put(100);
        assert_eq!(
            c.totals(1000),
            LiveTotals {
                live: 20 + 10 + 10,
                halted: 30,
                switches: 6
            }
        );
    }

    #[test]
    fn halt_spanning_a_put_counts_as_halted_only() {
        let mut c = LiveClock::new();
        c.run_enter(0);
        c.block_begin(10);
        c.put(11); // scheduled out while blocked
        c.load(500);
        c.block_end(501);
        c.run_exit(510);
        assert_eq!(
            c.totals(600),
            LiveTotals {
                live: 10 + 9,
                halted: 491,
                switches: 4
            }
        );
    }

    #[test]
    fn running_intervals_are_included_in_totals() {
        let mut c = LiveClock::new();
        c.run_enter(100);
        assert_eq!(c.totals(150).live, 50);
        c.block_begin(150);
        assert_eq!(c.totals(170).halted, 20);
    }

    #[test]
    fn backwards_clock_and_wrap_do_not_panic() {
        let mut c = LiveClock::new();
        c.run_enter(u64::MAX - 1);
        assert_eq!(c.put(3).stopped, Some(0)); // backwards: saturates to 0
        c.totals.live = u64::MAX;
        c.load(10);
        c.put(20);
        assert_eq!(c.totals(20).live, 9); // wraps
    }
}
