// SPDX-License-Identifier: GPL-2.0

//! A vCPU's virtual IA32_APERF and IA32_MPERF in EMULATE mode.
//!
//! The guest's counters advance only over live intervals (see
//! [`super::live`]), measured in guest TSC ticks: MPERF by the guest TSC
//! delta, APERF by that delta times the host's APERF/MPERF ratio (1 on a
//! host without APERFMPERF). A write, by the guest or by userspace
//! (migration), sets a counter; counting goes on from the written value.
//! The counters wrap at 2^64 like the hardware ones, with the SDM's rule
//! that each is cleared when the other wraps ([`advance`]).

/// The host's current APERF/MPERF ratio, `aperf / mperf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ratio {
    aperf: u64,
    mperf: u64,
}

impl Ratio {
    /// APERF and MPERF advance together (a host without APERFMPERF).
    pub const ONE: Self = Self { aperf: 1, mperf: 1 };

    /// Largest MPERF term kept: the kernel's tick samples are ~2^22..2^24,
    /// so dropping their low bits costs ~1e-6 of precision.
    const MPERF_BITS: u32 = 20;
    /// Largest APERF term kept while MPERF can still shrink.
    const APERF_BITS: u32 = 40;

    /// The ratio of a host sample of APERF and MPERF deltas; `ONE` when
    /// MPERF did not move (no sample yet). Both terms are shifted down
    /// together until they are small enough for [`Ratio::scale`] to work
    /// in 64 bits (the kernel has no 128-bit division).
    pub const fn new(mut aperf: u64, mut mperf: u64) -> Self {
        if mperf == 0 {
            return Self::ONE;
        }
        while mperf > 1 && (mperf >> Self::MPERF_BITS != 0 || aperf >> Self::APERF_BITS != 0) {
            aperf >>= 1;
            mperf >>= 1;
        }
        Self { aperf, mperf }
    }

    /// `delta * mperf / aperf`: the MPERF ticks in which APERF counts
    /// `delta`, saturating like [`Ratio::scale`].
    pub const fn unscale(self, delta: u64) -> u64 {
        // aperf < 2^40 unless mperf == 1, and mperf < 2^20: as in scale.
        let q = delta / self.aperf;
        let r = delta % self.aperf;
        q.saturating_mul(self.mperf)
            .saturating_add(r * self.mperf / self.aperf)
    }

    /// `delta * aperf / mperf`, saturating at `u64::MAX` for absurd
    /// ratios. Exact for ratios `new` did not have to shift.
    pub const fn scale(self, delta: u64) -> u64 {
        // mperf < 2^20 and, unless mperf == 1 (then the remainder is 0),
        // aperf < 2^40: the remainder term cannot overflow.
        let q = delta / self.mperf;
        let r = delta % self.mperf;
        q.saturating_mul(self.aperf)
            .saturating_add(r * self.aperf / self.mperf)
    }
}

/// Which of the two counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// IA32_MPERF (0xe7): counts at the (guest) TSC rate while live.
    Mperf,
    /// IA32_APERF (0xe8): counts at the actual frequency while live.
    Aperf,
}

impl Counter {
    /// MSR index of IA32_MPERF.
    pub const MPERF_INDEX: u32 = super::regs::IA32_MPERF;
    /// MSR index of IA32_APERF.
    pub const APERF_INDEX: u32 = super::regs::IA32_APERF;
    /// Both MSRs, as listed in `KVM_GET_MSR_INDEX_LIST`.
    pub const MSRS: [u32; 2] = [Self::MPERF_INDEX, Self::APERF_INDEX];

    /// The MSR index of this counter.
    pub const fn msr(self) -> u32 {
        match self {
            Self::Mperf => Self::MPERF_INDEX,
            Self::Aperf => Self::APERF_INDEX,
        }
    }

    /// The counter an MSR index names, if any.
    pub const fn from_msr(index: u32) -> Option<Self> {
        match index {
            Self::MPERF_INDEX => Some(Self::Mperf),
            Self::APERF_INDEX => Some(Self::Aperf),
            _ => None,
        }
    }
}

/// `aperf` and `mperf` after `dm` MPERF ticks at `ratio`, by the SDM's rule
/// for IA32_MPERF and IA32_APERF: when one wraps around, the other is
/// cleared, and both count on from there. Once one has cleared the other,
/// neither can wrap again within the same interval (2^64 more ticks).
pub fn advance(aperf: u64, mperf: u64, dm: u64, ratio: Ratio) -> (u64, u64) {
    let da = ratio.scale(dm);
    // MPERF ticks until each wraps, if it does within `dm` (a counter at 0
    // has 2^64 to go).
    let mperf_wrap = (mperf != 0 && dm >= mperf.wrapping_neg()).then(|| mperf.wrapping_neg());
    let aperf_wrap = (aperf != 0 && da >= aperf.wrapping_neg())
        .then(|| ratio.unscale(aperf.wrapping_neg()).min(dm));
    match (mperf_wrap, aperf_wrap) {
        (Some(m), a) if a.is_none_or(|a| m <= a) => {
            (da.saturating_sub(ratio.scale(m)), mperf.wrapping_add(dm))
        }
        (_, Some(a)) => (aperf.wrapping_add(da), dm - a),
        _ => (aperf.wrapping_add(da), mperf.wrapping_add(dm)),
    }
}

/// Whether values of APERF and MPERF may wrap around while a guest's
/// counters are in the MSRs: a wrap there clears the other counter, and
/// the host's view, offset from the values loaded, would jump. From below
/// 2^63, at the fastest rate APERF has (a few times the TSC's), a wrap is
/// decades away.
pub const fn may_wrap_soon(aperf: u64, mperf: u64) -> bool {
    (aperf | mperf) >> 63 != 0
}

/// The guest's virtual counters of one vCPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtualCounters {
    aperf: u64,
    mperf: u64,
    /// Guest TSC at the start of the live interval in progress, if any.
    live_since: Option<u64>,
}

impl VirtualCounters {
    /// Both counters at zero, not live.
    pub const fn new() -> Self {
        Self::with_values(0, 0)
    }

    /// Counters holding `aperf` and `mperf`, not live.
    pub const fn with_values(aperf: u64, mperf: u64) -> Self {
        Self {
            aperf,
            mperf,
            live_since: None,
        }
    }

    /// A live interval starts at guest TSC `tsc`.
    pub fn start(&mut self, tsc: u64) {
        self.live_since = Some(tsc);
    }

    /// The live interval in progress ends at guest TSC `tsc`; the counters
    /// advance over it at `ratio`. A TSC that went backwards (the guest or
    /// userspace wrote IA32_TSC) counts as no time.
    pub fn stop(&mut self, tsc: u64, ratio: Ratio) {
        if let Some(since) = self.live_since.take() {
            let delta = tsc.saturating_sub(since);
            (self.aperf, self.mperf) = advance(self.aperf, self.mperf, delta, ratio);
        }
    }

    /// The value a read at guest TSC `tsc` returns, including the live
    /// interval in progress.
    pub fn read(&self, counter: Counter, tsc: u64, ratio: Ratio) -> u64 {
        let mut now = *self;
        now.stop(tsc, ratio);
        match counter {
            Counter::Mperf => now.mperf,
            Counter::Aperf => now.aperf,
        }
    }

    /// Sets `counter` to `value` at guest TSC `tsc`: the live interval in
    /// progress is accounted up to `tsc` and goes on from there.
    pub fn write(&mut self, counter: Counter, value: u64, tsc: u64, ratio: Ratio) {
        let live = self.live_since.is_some();
        self.stop(tsc, ratio);
        match counter {
            Counter::Mperf => self.mperf = value,
            Counter::Aperf => self.aperf = value,
        }
        if live {
            self.start(tsc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: Ratio = Ratio::ONE;

    #[test]
    fn counts_only_live_intervals() {
        let mut c = VirtualCounters::new();
        c.start(1000);
        c.stop(1500, ONE);
        // 1500..9000 not live
        c.start(9000);
        assert_eq!(c.read(Counter::Mperf, 9100, ONE), 600);
        c.stop(9200, ONE);
        assert_eq!(c.read(Counter::Mperf, 50_000, ONE), 700);
        assert_eq!(c.read(Counter::Aperf, 50_000, ONE), 700);
    }

    #[test]
    fn aperf_follows_the_ratio() {
        let mut c = VirtualCounters::new();
        let r = Ratio::new(5, 4);
        c.start(0);
        c.stop(4000, r);
        assert_eq!(c.read(Counter::Mperf, 0, r), 4000);
        assert_eq!(c.read(Counter::Aperf, 0, r), 5000);
        assert_eq!(Ratio::new(7, 0), ONE);
        assert_eq!(Ratio::new(u64::MAX, 1).scale(2), u64::MAX);
    }

    #[test]
    fn write_sets_and_counting_continues() {
        let mut c = VirtualCounters::new();
        c.start(100);
        c.write(Counter::Mperf, 1 << 40, 200, ONE);
        assert_eq!(c.read(Counter::Mperf, 300, ONE), (1 << 40) + 100);
        // APERF kept its own value: 100 before the write, 100 after.
        assert_eq!(c.read(Counter::Aperf, 300, ONE), 200);
        c.stop(300, ONE);
        c.write(Counter::Aperf, 7, 400, ONE);
        assert_eq!(c.read(Counter::Aperf, 10_000, ONE), 7); // not live
    }

    #[test]
    fn wraps_like_hardware_and_ignores_backwards_tsc() {
        let mut c = VirtualCounters::new();
        c.write(Counter::Mperf, u64::MAX - 1, 0, ONE);
        c.write(Counter::Aperf, 1000, 0, ONE);
        c.start(10);
        c.stop(13, ONE);
        assert_eq!(c.read(Counter::Mperf, 0, ONE), 1);
        // MPERF wrapped after 2 ticks: APERF was cleared then.
        assert_eq!(c.read(Counter::Aperf, 0, ONE), 1);
        c.start(500);
        c.stop(400, ONE); // TSC written backwards
        assert_eq!(c.read(Counter::Mperf, 0, ONE), 1);
    }

    #[test]
    fn scale_matches_exact_arithmetic() {
        // A tick sample of realistic size (~2^23) and a long interval.
        let mut x: u64 = 0x1234_5678_9abc_def1;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (a, m) = ((x >> 40) | 1 << 20, (x >> 41 & 0x7f_ffff) | 1 << 22);
            let delta = x >> 16;
            let exact = (delta as u128 * a as u128 / m as u128) as u64;
            let got = Ratio::new(a, m).scale(delta);
            // Within 1e-5 relative (the shifted-out bits of the sample).
            let err = exact.abs_diff(got);
            assert!(
                err <= exact / 100_000 + 1,
                "{a}/{m} of {delta}: {got} vs {exact}"
            );
        }
        assert_eq!(Ratio::new(5, 4).scale(4000), 5000);
        assert_eq!(Ratio::new(3, 7).scale(700), 300);
    }

    #[test]
    fn one_wrap_clears_the_other() {
        let r = Ratio::new(5, 4);
        // APERF wraps after 800 MPERF ticks (1000 APERF ticks): MPERF is
        // cleared then and counts the 200 after.
        assert_eq!(advance(u64::MAX - 999, 1 << 40, 1000, r), (250, 200));
        // MPERF wraps after 100: APERF counts the 900 after at 5/4.
        assert_eq!(advance(1 << 50, u64::MAX - 99, 1000, r), (1125, 900));
        // Both would wrap: the first one wins, the other restarts at 0.
        assert_eq!(advance(u64::MAX - 99, u64::MAX - 999, 1000, r), (1150, 920));
        // Neither wraps.
        assert_eq!(advance(5, 7, 1000, r), (1255, 1007));
        // A counter at 0 has 2^64 ticks to go.
        assert_eq!(advance(0, 0, u64::MAX, ONE), (u64::MAX, u64::MAX));
        assert!(may_wrap_soon(1 << 63, 0) && may_wrap_soon(0, u64::MAX));
        assert!(!may_wrap_soon((1 << 63) - 1, (1 << 63) - 1));
    }

    #[test]
    fn msr_indices() {
        assert_eq!(Counter::from_msr(0xe7), Some(Counter::Mperf));
        assert_eq!(Counter::from_msr(0xe8), Some(Counter::Aperf));
        assert_eq!(Counter::from_msr(0xe9), None);
        for c in [Counter::Mperf, Counter::Aperf] {
            assert_eq!(Counter::from_msr(c.msr()), Some(c));
        }
    }
}
