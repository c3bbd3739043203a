// SPDX-License-Identifier: GPL-2.0

//! The MSRs the features own or program, and the CPUID leaves that
//! describe them, declared once: indices, and for control and description
//! registers their fields, typed (in the style of nova-core's
//! `register!`). The module's KUnit suite checks the indices and bits
//! against the kernel's `asm/msr-index.h` and `asm/vmx.h` through the
//! bindings.

/// Declares a 64-bit register value type with named bit fields: a getter
/// and a `with_` setter per field, `hi:lo` inclusive. Setting a field
/// masks the value to the field's width, so no field spills into another.
macro_rules! register {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $hi:literal : $lo:literal $field:ident $setter:ident; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name(pub u64);

        impl $name {
            $(
                $(#[$fmeta])*
                pub const fn $field(self) -> u64 {
                    (self.0 >> $lo) & Self::mask($hi, $lo)
                }

                #[doc = concat!("This value with `", stringify!($field), "` set to `v`.")]
                pub const fn $setter(self, v: u64) -> Self {
                    let m = Self::mask($hi, $lo);
                    Self((self.0 & !(m << $lo)) | ((v & m) << $lo))
                }
            )*

            /// The bits no field names.
            pub const RESERVED: u64 = !(0 $( | (Self::mask($hi, $lo) << $lo) )*);

            const fn mask(hi: u32, lo: u32) -> u64 {
                u64::MAX >> (63 - (hi - lo))
            }
        }
    };
}

/// IA32_MPERF: counts at the TSC rate in C0.
pub const IA32_MPERF: u32 = 0xe7;
/// IA32_APERF: counts at the actual frequency in C0.
pub const IA32_APERF: u32 = 0xe8;

/// Intel IA32_PMC0, the first general-purpose counter.
pub const IA32_PMC0: u32 = 0xc1;
/// Intel IA32_PERFEVTSEL0, the first event selector.
pub const IA32_PERFEVTSEL0: u32 = 0x186;
/// Intel IA32_FIXED_CTR_CTRL.
pub const IA32_FIXED_CTR_CTRL: u32 = 0x38d;
/// Intel IA32_PERF_GLOBAL_CTRL.
pub const IA32_PERF_GLOBAL_CTRL: u32 = 0x38f;

/// AMD PERF_CTL0 of the core PMU extension; PERF_CTLn is at `+ 2 * n`.
pub const AMD_PERF_CTL0: u32 = 0xc001_0200;
/// AMD PERF_CTR0 of the core PMU extension; PERF_CTRn is at `+ 2 * n`.
pub const AMD_PERF_CTR0: u32 = 0xc001_0201;
/// AMD PerfMonV2 PerfCntrGlobalStatus.
pub const AMD_PERF_CNTR_GLOBAL_STATUS: u32 = 0xc000_0300;
/// AMD PerfMonV2 PerfCntrGlobalCtl.
pub const AMD_PERF_CNTR_GLOBAL_CTL: u32 = 0xc000_0301;

/// Intel IA32_PERF_CAPABILITIES (with CPUID.01H:ECX.PDCM).
pub const IA32_PERF_CAPABILITIES: u32 = 0x345;
/// Intel IA32_VMX_ENTRY_CTLS: which VM-entry controls may be 0 (31:0) and
/// may be 1 (63:32).
pub const IA32_VMX_ENTRY_CTLS: u32 = 0x484;

/// CPUID leaf of Intel's architectural performance monitoring.
pub const CPUID_ARCH_PERFMON: u32 = 0xa;
/// CPUID leaf of AMD's extended performance monitoring (PerfMonV2).
pub const CPUID_AMD_PERFMON_EXT: u32 = 0x8000_0022;

register! {
    /// IA32_PERF_CAPABILITIES.
    PerfCapabilities {
        /// LBR format.
        5:0 lbr_format with_lbr_format;
        /// PEBS record format and trap (unused here).
        12:6 pebs with_pebs;
        /// IA32_A_PMCx write the full width of a counter.
        13:13 fw_write with_fw_write;
    }
}

register! {
    /// IA32_VMX_ENTRY_CTLS.
    VmxEntryCtls {
        /// VM-entry controls that may be 0.
        31:0 allowed0 with_allowed0;
        /// "Load IA32_PERF_GLOBAL_CTRL" may be 1 (bit 13 of the controls).
        45:45 may_load_perf_global_ctrl with_may_load_perf_global_ctrl;
    }
}

register! {
    /// CPUID.0AH:EAX.
    ArchPerfmonEax {
        /// Architectural PMU version.
        7:0 version with_version;
        /// General-purpose counters per logical processor.
        15:8 gp_counters with_gp_counters;
        /// Bit width of a general-purpose counter.
        23:16 gp_width with_gp_width;
        /// Length of the EBX event vector.
        31:24 events_len with_events_len;
    }
}

register! {
    /// CPUID.0AH:EDX.
    ArchPerfmonEdx {
        /// Fixed counters (version 2 and later).
        4:0 fixed_counters with_fixed_counters;
        /// Bit width of a fixed counter.
        12:5 fixed_width with_fixed_width;
    }
}

register! {
    /// CPUID.80000022H:EAX.
    AmdPerfmonExtEax {
        /// PerfMonV2: the global control and status MSRs.
        0:0 perfmon_v2 with_perfmon_v2;
    }
}

register! {
    /// CPUID.80000022H:EBX.
    AmdPerfmonExtEbx {
        /// Core performance counters.
        3:0 core_counters with_core_counters;
    }
}

register! {
    /// An event selector: Intel IA32_PERFEVTSELn, AMD PERF_CTLn.
    EventSelect {
        /// Event number bits 7:0 (see [`EventSelect::with_event`]).
        7:0 event_lo with_event_lo;
        /// Unit mask.
        15:8 umask with_umask;
        /// Count at CPL > 0.
        16:16 usr with_usr;
        /// Count at CPL 0.
        17:17 os with_os;
        /// Count edges.
        18:18 edge with_edge;
        /// Raise a PMI on overflow.
        20:20 int with_int;
        /// Intel: AnyThread (v3). AMD: reserved.
        21:21 any with_any;
        /// Enable the counter.
        22:22 en with_en;
        /// Invert the counter mask.
        23:23 inv with_inv;
        /// Counter mask.
        31:24 cmask with_cmask;
        /// AMD: event number bits 11:8.
        35:32 event_hi with_event_hi;
        /// AMD: count in guest mode only (with `host_only` clear).
        40:40 guest_only with_guest_only;
        /// AMD: count in host mode only (with `guest_only` clear).
        41:41 host_only with_host_only;
    }
}

impl EventSelect {
    /// This value selecting event `event` (12 bits on AMD, 8 on Intel).
    pub const fn with_event(self, event: u64) -> Self {
        self.with_event_lo(event).with_event_hi(event >> 8)
    }
}

register! {
    /// A global control: Intel IA32_PERF_GLOBAL_CTRL, AMD
    /// PerfCntrGlobalCtl. One enable bit per counter.
    GlobalCtrl {
        /// General-purpose counters 0..=31.
        31:0 gp with_gp;
        /// Intel: fixed counters 0..=15 (AMD: reserved).
        47:32 fixed with_fixed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_select_fields_land_where_the_manuals_put_them() {
        // What Linux writes for AMD cycles, guest-only, enabled, user+kernel.
        let sel = EventSelect::default()
            .with_event(0x76)
            .with_usr(1)
            .with_os(1)
            .with_en(1)
            .with_guest_only(1);
        assert_eq!(sel.0, (1 << 40) | (1 << 22) | (1 << 17) | (1 << 16) | 0x76);
        // A 12-bit AMD event splits across bits 7:0 and 35:32.
        assert_eq!(EventSelect::default().with_event(0x3c1).0, (3 << 32) | 0xc1);
        assert_eq!(EventSelect(u64::MAX).host_only(), 1);
        assert_eq!(EventSelect(1 << 41).guest_only(), 0);
    }

    #[test]
    fn setters_mask_to_their_field() {
        let sel = EventSelect::default().with_umask(0x1ff);
        assert_eq!(sel.umask(), 0xff);
        assert_eq!(sel.0, 0xff00, "bit 8 of the value spilled into usr");
        let g = GlobalCtrl(u64::MAX).with_gp(0);
        assert_eq!(g.gp(), 0);
        assert_eq!(g.fixed(), 0xffff);
    }

    #[test]
    fn reserved_bits_are_the_unnamed_ones() {
        // EVTSEL bit 19 (Intel PC, AMD reserved), 39:36 and 63:42.
        assert_eq!(
            EventSelect::RESERVED,
            (1 << 19) | (0xf << 36) | (u64::MAX << 42)
        );
        assert_eq!(GlobalCtrl::RESERVED, u64::MAX << 48);
    }

    #[test]
    fn counter_msr_strides() {
        assert_eq!(AMD_PERF_CTL0 + 2 * 5, 0xc001_020a);
        assert_eq!(AMD_PERF_CTR0 + 2 * 5, 0xc001_020b);
    }
}
