// SPDX-License-Identifier: GPL-2.0

//! Intel's architectural PMU: version 4 or later for GLOBAL_STATUS_SET,
//! full-width counter writes, and the VMCS loads of PERF_GLOBAL_CTRL that
//! start and stop the guest's counters at VM-entry and VM-exit.
//!
//! VMX is not available on this project's test machine (QEMU TCG has no
//! VMX), so this half is proven only against modeled register files of
//! real parts, in the tests below.

use super::super::regs::{
    ArchPerfmonEax, ArchPerfmonEdx, PerfCapabilities, VmxEntryCtls, CPUID_ARCH_PERFMON,
    IA32_PERF_CAPABILITIES, IA32_VMX_ENTRY_CTLS,
};
use super::{CpuidFlag, HostPmu, PmuVendor, Refusal, Reg, RegisterFile};

/// CPUID.01H:ECX.PDCM: IA32_PERF_CAPABILITIES exists.
const PDCM: CpuidFlag = CpuidFlag {
    leaf: 1,
    reg: Reg::Ecx,
    bit: 15,
};
/// CPUID.07H:EDX.Hybrid.
const HYBRID: CpuidFlag = CpuidFlag {
    leaf: 7,
    reg: Reg::Edx,
    bit: 15,
};

/// Intel, as `intel_pmu_init()` (perf) and vmx/pmu_intel.c (KVM) see it.
pub struct Intel;

impl PmuVendor for Intel {
    const MIN_GP_COUNTERS: u8 = 1;

    fn decode(regs: &dyn RegisterFile) -> HostPmu {
        let arch = regs.leaf(CPUID_ARCH_PERFMON).unwrap_or_default();
        let (eax, edx) = (
            ArchPerfmonEax(arch.eax.into()),
            ArchPerfmonEdx(arch.edx.into()),
        );
        let version = eax.version() as u8;
        let perf_caps = if regs.has(PDCM) {
            PerfCapabilities(regs.rdmsr(IA32_PERF_CAPABILITIES).unwrap_or(0))
        } else {
            PerfCapabilities(0)
        };
        let entry = VmxEntryCtls(regs.rdmsr(IA32_VMX_ENTRY_CTLS).unwrap_or(0));
        HostPmu {
            version,
            gp_counters: if version == 0 {
                0
            } else {
                eax.gp_counters() as u8
            },
            gp_width: eax.gp_width() as u8,
            // Version 1 has no fixed counters, whatever EDX holds.
            fixed_counters: if version > 1 {
                edx.fixed_counters() as u8
            } else {
                0
            },
            hybrid: regs.has(HYBRID),
            full_width_writes: perf_caps.fw_write() != 0,
            entry_loads_global_ctrl: entry.may_load_perf_global_ctrl() != 0,
        }
    }

    fn vendor_refusal(host: &HostPmu) -> Option<Refusal> {
        // intel_pmu_is_mediated_pmu_supported(), in its order.
        if host.version < 4 {
            Some(Refusal::ArchPmuVersion(host.version))
        } else if !host.full_width_writes {
            Some(Refusal::NoFullWidthWrites)
        } else if !host.entry_loads_global_ctrl {
            Some(Refusal::NoEntryGlobalCtrl)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::regs::IA32_VMX_ENTRY_CTLS;
    use super::super::{
        model::{regs, verdict, Model},
        Cpuid,
    };
    use super::*;

    type Leaf = (u32, u32, Cpuid);

    /// Maximum basic leaf, PDCM, no hybrid.
    const BASIC: Leaf = (0, 0, regs(0x16, 0, 0, 0));
    const PDCM_SET: Leaf = (1, 0, regs(0, 0, 1 << 15, 0));
    /// VM-entry controls: every one may be 1 (allowed-1 in 63:32).
    const ENTRY_ALL: (u32, u64) = (IA32_VMX_ENTRY_CTLS, 0x0003_ffff_0000_11ff);
    /// The same without "load IA32_PERF_GLOBAL_CTRL" (bit 13), as some
    /// hypervisors offer their guests.
    const ENTRY_NO_GLOBAL: (u32, u64) = (IA32_VMX_ENTRY_CTLS, 0x0003_dfff_0000_11ff);

    /// Xeon Scalable 1st gen (Skylake-SP): version 4, four counters per
    /// thread, 48 bits, three fixed; PERF_CAPABILITIES 0x33c4 has
    /// FW_WRITE.
    const SKYLAKE_SP: Model = Model {
        cpuid: &[BASIC, PDCM_SET, (0xa, 0, regs(0x0730_0404, 0, 0, 0x0603))],
        msrs: &[(IA32_PERF_CAPABILITIES, 0x33c4), ENTRY_ALL],
    };

    /// Xeon E5 v3 (Haswell-EP): version 3.
    const HASWELL: Model = Model {
        cpuid: &[BASIC, PDCM_SET, (0xa, 0, regs(0x0730_0403, 0, 0, 0x0603))],
        msrs: &[(IA32_PERF_CAPABILITIES, 0x31c4), ENTRY_ALL],
    };

    /// Xeon 4th gen (Sapphire Rapids): version 5, eight counters, four
    /// fixed.
    const SAPPHIRE_RAPIDS: Model = Model {
        cpuid: &[BASIC, PDCM_SET, (0xa, 0, regs(0x0830_0805, 0, 0xf, 0x8604))],
        msrs: &[(IA32_PERF_CAPABILITIES, 0x000f_33c5), ENTRY_ALL],
    };

    /// Core 12th gen (Alder Lake): hybrid.
    const ALDER_LAKE: Model = Model {
        cpuid: &[
            BASIC,
            PDCM_SET,
            (7, 0, regs(0, 0, 0, 1 << 15)),
            (0xa, 0, regs(0x0730_0605, 0, 0, 0x8603)),
        ],
        msrs: &[(IA32_PERF_CAPABILITIES, 0x33c5), ENTRY_ALL],
    };

    #[test]
    fn skylake_sp_is_mediated() {
        let host = Intel::decode(&SKYLAKE_SP);
        assert_eq!(
            host,
            HostPmu {
                version: 4,
                gp_counters: 4,
                gp_width: 48,
                fixed_counters: 3,
                hybrid: false,
                full_width_writes: true,
                entry_loads_global_ctrl: true,
            }
        );
        assert_eq!(Intel::refusal(&host), None);
    }

    #[test]
    fn sapphire_rapids_is_mediated() {
        let host = Intel::decode(&SAPPHIRE_RAPIDS);
        assert_eq!(
            (host.version, host.gp_counters, host.fixed_counters),
            (5, 8, 4)
        );
        assert_eq!(Intel::refusal(&host), None);
    }

    #[test]
    fn haswell_is_below_version_4() {
        assert_eq!(verdict::<Intel>(&HASWELL), Some(Refusal::ArchPmuVersion(3)));
    }

    #[test]
    fn hybrid_parts_have_no_vpmu() {
        assert_eq!(verdict::<Intel>(&ALDER_LAKE), Some(Refusal::Hybrid));
    }

    #[test]
    fn full_width_writes_come_from_perf_capabilities_only_with_pdcm() {
        // Without PDCM, IA32_PERF_CAPABILITIES is not read at all.
        const NO_PDCM: Model = Model {
            cpuid: &[BASIC, (0xa, 0, regs(0x0730_0404, 0, 0, 0x0603))],
            msrs: &[(IA32_PERF_CAPABILITIES, 0x33c4), ENTRY_ALL],
        };
        assert_eq!(verdict::<Intel>(&NO_PDCM), Some(Refusal::NoFullWidthWrites));
        const NO_FW: Model = Model {
            cpuid: SKYLAKE_SP.cpuid,
            msrs: &[(IA32_PERF_CAPABILITIES, 0x13c4), ENTRY_ALL],
        };
        assert_eq!(verdict::<Intel>(&NO_FW), Some(Refusal::NoFullWidthWrites));
    }

    #[test]
    fn a_vmx_without_the_global_ctrl_entry_load_is_refused() {
        const NESTED: Model = Model {
            cpuid: SKYLAKE_SP.cpuid,
            msrs: &[(IA32_PERF_CAPABILITIES, 0x33c4), ENTRY_NO_GLOBAL],
        };
        assert_eq!(verdict::<Intel>(&NESTED), Some(Refusal::NoEntryGlobalCtrl));
    }

    #[test]
    fn no_architectural_pmu() {
        // A maximum basic leaf below 0AH, or version 0 there.
        const OLD: Model = Model {
            cpuid: &[
                (0, 0, regs(0x5, 0, 0, 0)),
                (0xa, 0, regs(0x0730_0404, 0, 0, 3)),
            ],
            msrs: &[],
        };
        const NONE: Model = Model {
            cpuid: &[BASIC, (0xa, 0, regs(0x0730_0400, 0, 0, 3))],
            msrs: &[],
        };
        for m in [&OLD, &NONE] {
            let host = Intel::decode(m);
            assert_eq!((host.version, host.gp_counters), (0, 0));
            assert_eq!(Intel::refusal(&host), Some(Refusal::NoPmu));
        }
    }

    #[test]
    fn version_1_has_no_fixed_counters() {
        const V1: Model = Model {
            cpuid: &[BASIC, PDCM_SET, (0xa, 0, regs(0x0728_0201, 0, 0, 0x0603))],
            msrs: &[(IA32_PERF_CAPABILITIES, 0x2000), ENTRY_ALL],
        };
        let host = Intel::decode(&V1);
        assert_eq!(
            (host.version, host.gp_counters, host.fixed_counters),
            (1, 2, 0)
        );
        assert_eq!(Intel::refusal(&host), Some(Refusal::ArchPmuVersion(1)));
    }
}
