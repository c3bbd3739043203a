// SPDX-License-Identifier: GPL-2.0

//! AMD's PMU: the core counters of the PerfCtrExtCore MSRs, and PerfMonV2,
//! whose global control and status a mediated PMU loads and saves.

use super::super::regs::{AmdPerfmonExtEax, AmdPerfmonExtEbx, CPUID_AMD_PERFMON_EXT};
use super::{CpuidFlag, HostPmu, PmuVendor, Refusal, Reg, RegisterFile};

/// CPUID.80000001H:ECX.PerfCtrExtCore: six core counters at
/// PERF_CTL0/PERF_CTR0 (`AMD_PERF_CTL0`), else four legacy ones.
const PERFCTR_CORE: CpuidFlag = CpuidFlag {
    leaf: 0x8000_0001,
    reg: Reg::Ecx,
    bit: 23,
};
/// Counters without PerfCtrExtCore, and without PerfMonV2 with it.
const LEGACY_COUNTERS: u8 = 4;
const CORE_COUNTERS: u8 = 6;
/// AMD's counters are 48 bits wide.
const COUNTER_WIDTH: u8 = 48;

/// AMD, as `amd_pmu_init()` (perf) and svm/pmu.c (KVM) see it.
pub struct Amd;

impl PmuVendor for Amd {
    // AMD64_NUM_COUNTERS.
    const MIN_GP_COUNTERS: u8 = LEGACY_COUNTERS;

    fn decode(regs: &dyn RegisterFile) -> HostPmu {
        let v2 = regs
            .leaf(CPUID_AMD_PERFMON_EXT)
            .filter(|ext| AmdPerfmonExtEax(ext.eax.into()).perfmon_v2() != 0);
        let gp_counters = match v2 {
            Some(ext) => AmdPerfmonExtEbx(ext.ebx.into()).core_counters() as u8,
            None if regs.has(PERFCTR_CORE) => CORE_COUNTERS,
            None => LEGACY_COUNTERS,
        };
        HostPmu {
            version: if v2.is_some() { 2 } else { 1 },
            gp_counters,
            gp_width: COUNTER_WIDTH,
            fixed_counters: 0,
            hybrid: false,
            full_width_writes: true,
            entry_loads_global_ctrl: true,
        }
    }

    fn vendor_refusal(host: &HostPmu) -> Option<Refusal> {
        // amd_pmu_is_mediated_pmu_supported(): version >= 2.
        (host.version < 2).then_some(Refusal::NoPerfMonV2)
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{regs, verdict, Model};
    use super::*;

    /// Maximum extended leaf 0x80000022 or more, PerfCtrExtCore.
    const EXT_MAX: (u32, u32, super::super::Cpuid) = (0x8000_0000, 0, regs(0x8000_0023, 0, 0, 0));
    const EXT_CORE: (u32, u32, super::super::Cpuid) = (0x8000_0001, 0, regs(0, 0, 1 << 23, 0));

    /// EPYC 7003 (Zen 3, Milan): six core counters, no PerfMonV2.
    const MILAN: Model = Model {
        cpuid: &[EXT_MAX, EXT_CORE, (0x8000_0022, 0, regs(0, 0, 0, 0))],
        msrs: &[],
    };

    /// EPYC 9004 (Zen 4, Genoa): PerfMonV2, six core counters.
    const GENOA: Model = Model {
        cpuid: &[
            EXT_MAX,
            EXT_CORE,
            (0x8000_0022, 0, regs(0b111, 0x0010_0106, 0, 0)),
        ],
        msrs: &[],
    };

    /// An old part: neither PerfCtrExtCore nor leaf 0x80000022 (its
    /// maximum leaf is below, whatever a read of it returns).
    const K10: Model = Model {
        cpuid: &[
            (0x8000_0000, 0, regs(0x8000_001b, 0, 0, 0)),
            (0x8000_0022, 0, regs(1, 6, 0, 0)),
        ],
        msrs: &[],
    };

    #[test]
    fn zen4_is_mediated() {
        let host = Amd::decode(&GENOA);
        assert_eq!((host.version, host.gp_counters, host.gp_width), (2, 6, 48));
        assert_eq!(Amd::refusal(&host), None);
    }

    #[test]
    fn zen3_lacks_perfmon_v2() {
        let host = Amd::decode(&MILAN);
        assert_eq!((host.version, host.gp_counters), (1, 6));
        assert_eq!(Amd::refusal(&host), Some(Refusal::NoPerfMonV2));
    }

    #[test]
    fn leaves_beyond_the_maximum_are_not_read() {
        let host = Amd::decode(&K10);
        assert_eq!((host.version, host.gp_counters), (1, 4));
        assert_eq!(Amd::refusal(&host), Some(Refusal::NoPerfMonV2));
    }

    #[test]
    fn perfmon_v2_with_too_few_counters_is_refused() {
        const FEW: Model = Model {
            cpuid: &[EXT_MAX, EXT_CORE, (0x8000_0022, 0, regs(1, 2, 0, 0))],
            msrs: &[],
        };
        assert_eq!(
            verdict::<Amd>(&FEW),
            Some(Refusal::TooFewCounters { have: 2, need: 4 })
        );
    }
}
