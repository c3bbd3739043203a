// SPDX-License-Identifier: GPL-2.0

//! The numbers of `include/uapi/linux/kvm_vcounters.h`, typed.
//!
//! A host test parses the header and checks every value here against it,
//! so the two cannot drift apart.

/// A set of `KVM_VCOUNTERS_*` feature bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features(u64);

impl Features {
    /// `KVM_VCOUNTERS_APERFMPERF`: virtual IA32_APERF / IA32_MPERF.
    pub const APERFMPERF: Self = Self(1 << 0);
    /// `KVM_VCOUNTERS_PMU`: guest-owned hardware PMU counters.
    pub const PMU: Self = Self(1 << 1);
    /// Every feature bit this uapi defines.
    pub const ALL: Self = Self(Self::APERFMPERF.0 | Self::PMU.0);

    /// The set with exactly the bits of `bits`, known or not.
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    /// The raw bit mask.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The bits of `self` that are not in `other`.
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// The union of both sets.
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// `KVM_VCOUNTERS_MODE_*`: where the guest's counter values live and when
/// they are switched with the host's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Mode {
    /// The best mode this host and vCPU allow; never an effective mode.
    Auto = 0,
    /// Hardware MSRs, reads pass through, switched at vcpu_load/vcpu_put.
    Run = 1,
    /// Hardware MSRs, reads pass through, switched at every VM-entry/exit.
    Entry = 2,
    /// Reads intercepted, values computed from the guest TSC.
    Emulate = 3,
}

impl Mode {
    /// Every mode, in uapi order.
    pub const ALL: [Mode; 4] = [Mode::Auto, Mode::Run, Mode::Entry, Mode::Emulate];

    /// The mode numbered `raw` in the uapi, if any.
    pub fn from_raw(raw: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|m| *m as u64 == raw)
    }
}

/// The modes the PMU feature takes: no EMULATE (PMU counters cannot be
/// computed from the TSC), so a PMU configuration cannot hold one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum PmuMode {
    /// The best mode this host and vCPU allow.
    Auto = Mode::Auto as u32,
    /// Switched at vcpu_load/vcpu_put.
    Run = Mode::Run as u32,
    /// Switched at every VM-entry/exit.
    Entry = Mode::Entry as u32,
}

impl PmuMode {
    /// The PMU mode `mode` names, if the PMU has it.
    pub const fn from_mode(mode: Mode) -> Option<Self> {
        match mode {
            Mode::Auto => Some(Self::Auto),
            Mode::Run => Some(Self::Run),
            Mode::Entry => Some(Self::Entry),
            Mode::Emulate => None,
        }
    }
}
