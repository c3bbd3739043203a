// SPDX-License-Identifier: GPL-2.0

//! `KVM_ENABLE_CAP(KVM_CAP_X86_VCOUNTERS)`: argument checks and mode choice.
//!
//! The order of the checks is part of the contract: malformed arguments
//! (`Invalid`) are reported before what the host cannot do
//! (`NotSupported`). Only then does the caller ask KVM to attach the VM,
//! which refuses (`-EBUSY`) once a vCPU exists or the VM is attached: that
//! check must be made under `kvm->lock`, so KVM makes it. A failed call
//! changes nothing because the caller attaches the returned [`VmConfig`]
//! only on success.

use super::uapi::{Features, Mode, PmuMode};

/// Why a request was refused; the kernel side maps these to errno values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapError {
    /// Malformed request: unknown feature bit, unknown or misplaced mode,
    /// reserved argument or flag set (`-EINVAL`).
    Invalid,
    /// Well formed, but this host cannot provide it (`-EOPNOTSUPP`).
    NotSupported,
}

/// What the host offers, probed once at module init.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostCaps {
    /// The host CPU has IA32_APERF/IA32_MPERF (`X86_FEATURE_APERFMPERF`).
    pub aperfmperf: bool,
    /// KVM can give VMs its mediated vPMU (the vendor module was loaded
    /// with `enable_mediated_pmu=1`).
    pub pmu: bool,
    /// Guest reads of MPERF in the hardware modes count at the guest's
    /// scaled TSC rate (the vendor backend knows).
    pub guest_mperf_scaled: bool,
}

impl HostCaps {
    /// The feature mask `KVM_CHECK_EXTENSION` reports.
    ///
    /// APERF/MPERF is always offered: EMULATE needs no counter hardware.
    pub fn supported_features(&self) -> Features {
        let mut f = Features::APERFMPERF;
        if self.pmu {
            f = f.with(Features::PMU);
        }
        f
    }

    /// Whether an explicitly requested APERF/MPERF mode can work on this
    /// host at all (per-vCPU limits such as TSC scaling come later).
    fn offers_aperfmperf_mode(&self, mode: Mode) -> bool {
        match mode {
            Mode::Auto | Mode::Emulate => true,
            Mode::Run | Mode::Entry => self.aperfmperf,
        }
    }

    /// Whether a requested PMU mode can work on this host: both, wherever
    /// KVM can mediate. ENTRY is KVM's own switch around the
    /// VM-entry/exit loop; RUN keeps the context loaded across VM-exits,
    /// which the series makes safe on every such host (perf preempts it
    /// for host events, the hardware keeps guest counters off host code).
    fn offers_pmu_mode(&self, mode: PmuMode) -> bool {
        match mode {
            PmuMode::Auto | PmuMode::Run | PmuMode::Entry => self.pmu,
        }
    }
}

/// What a successful `KVM_ENABLE_CAP` stores for the VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmConfig {
    /// The features the VM opted into; never empty.
    pub features: Features,
    /// Requested APERF/MPERF mode (`Auto` when the feature is off).
    pub aperfmperf_mode: Mode,
    /// Requested PMU mode (`Auto` when the feature is off).
    pub pmu_mode: PmuMode,
}

/// Checks the arguments of `KVM_ENABLE_CAP(KVM_CAP_X86_VCOUNTERS)`.
pub fn enable(args: [u64; 4], flags: u32, host: &HostCaps) -> Result<VmConfig, CapError> {
    let features = Features::from_bits(args[0]);
    if flags != 0 || args[3] != 0 || features.is_empty() {
        return Err(CapError::Invalid);
    }
    if !features.without(Features::ALL).is_empty() {
        return Err(CapError::Invalid);
    }
    let aperfmperf_mode = Mode::from_raw(args[1]).ok_or(CapError::Invalid)?;
    let pmu_mode = Mode::from_raw(args[2]).ok_or(CapError::Invalid)?;
    // PMU counters cannot be computed from the TSC: no EMULATE.
    let pmu_mode = PmuMode::from_mode(pmu_mode).ok_or(CapError::Invalid)?;
    // A mode for a feature that is not requested would be ignored
    // silently; refuse it so a VMM bug shows.
    if !features.contains(Features::APERFMPERF) && aperfmperf_mode != Mode::Auto {
        return Err(CapError::Invalid);
    }
    if !features.contains(Features::PMU) && pmu_mode != PmuMode::Auto {
        return Err(CapError::Invalid);
    }

    if !host.supported_features().contains(features) {
        return Err(CapError::NotSupported);
    }
    if features.contains(Features::APERFMPERF) && !host.offers_aperfmperf_mode(aperfmperf_mode) {
        return Err(CapError::NotSupported);
    }
    if features.contains(Features::PMU) && !host.offers_pmu_mode(pmu_mode) {
        return Err(CapError::NotSupported);
    }
    Ok(VmConfig {
        features,
        aperfmperf_mode,
        pmu_mode,
    })
}

/// The configuration the module's default-features parameter gives every
/// new VM: those features in AUTO mode, checked as `KVM_ENABLE_CAP` checks
/// them (so that a bad parameter fails the module load). `None` for 0.
pub fn default_config(features: u64, host: &HostCaps) -> Result<Option<VmConfig>, CapError> {
    if features == 0 {
        return Ok(None);
    }
    enable([features, 0, 0, 0], 0, host).map(Some)
}

/// The PMU mode of a vCPU whose VM KVM gave a mediated vPMU, from the
/// mode [`enable`] accepted: AUTO is RUN, which costs no switch at a
/// VM-exit handled in the kernel while no host event needs the PMU, and
/// falls back to switching at each entry and exit while one does.
pub fn effective_pmu_mode(requested: PmuMode) -> PmuMode {
    match requested {
        PmuMode::Auto => PmuMode::Run,
        mode => mode,
    }
}

/// What kind of VM asks for the capability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmKind {
    /// The guest's state is protected from KVM (SEV-ES, SNP, TDX).
    pub protected_state: bool,
}

/// Whether a VM of `kind` can opt in at all, after [`enable`] accepted
/// the arguments. The module controls the MSR intercepts of neither an
/// SEV-ES or SNP guest (its register state is encrypted, its MSR accesses
/// reach KVM only through the GHCB) nor a TDX guest (the TDX module owns
/// them): refused as something this host cannot provide.
pub fn vm_supported(kind: VmKind) -> Result<(), CapError> {
    if kind.protected_state {
        Err(CapError::NotSupported)
    } else {
        Ok(())
    }
}

/// The per-vCPU facts that limit the APERF/MPERF mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuCaps {
    /// The vCPU's TSC runs at a ratio other than 1 to the host's.
    pub tsc_scaled: bool,
}

/// The APERF/MPERF mode a vCPU runs in, decided at its first `KVM_RUN`.
///
/// In the hardware modes the guest reads MPERF straight from the MSR,
/// which counts at the host's TSC rate; with a scaled guest TSC that rate
/// is wrong, so such a vCPU must emulate unless the vendor scales guest
/// MPERF reads too. `Auto` prefers RUN: it switches at vcpu_load/vcpu_put,
/// far less often than ENTRY.
pub fn effective_aperfmperf_mode(
    requested: Mode,
    host: &HostCaps,
    vcpu: VcpuCaps,
) -> Result<Mode, CapError> {
    let hardware_ok = host.aperfmperf && (!vcpu.tsc_scaled || host.guest_mperf_scaled);
    match requested {
        Mode::Auto if hardware_ok => Ok(Mode::Run),
        Mode::Auto | Mode::Emulate => Ok(Mode::Emulate),
        Mode::Run | Mode::Entry if hardware_ok => Ok(requested),
        Mode::Run | Mode::Entry => Err(CapError::NotSupported),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_APERF: HostCaps = HostCaps {
        aperfmperf: false,
        pmu: false,
        guest_mperf_scaled: false,
    };
    const FULL: HostCaps = HostCaps {
        aperfmperf: true,
        pmu: true,
        guest_mperf_scaled: false,
    };
    const A: u64 = Features::APERFMPERF.bits();
    const P: u64 = Features::PMU.bits();

    #[test]
    fn protected_vms_are_refused_as_not_supported() {
        assert_eq!(vm_supported(VmKind::default()), Ok(()));
        let protected = VmKind {
            protected_state: true,
        };
        assert_eq!(vm_supported(protected), Err(CapError::NotSupported));
    }

    #[test]
    fn supported_features_follow_host() {
        assert_eq!(NO_APERF.supported_features(), Features::APERFMPERF);
        assert_eq!(FULL.supported_features(), Features::ALL);
    }

    #[test]
    fn accepts_every_valid_aperfmperf_mode_on_full_host() {
        for mode in Mode::ALL {
            let cfg = enable([A, mode as u64, 0, 0], 0, &FULL).unwrap();
            assert_eq!(cfg.features, Features::APERFMPERF);
            assert_eq!(cfg.aperfmperf_mode, mode);
            assert_eq!(cfg.pmu_mode, PmuMode::Auto);
        }
    }

    #[test]
    fn invalid_arguments() {
        let bad: &[([u64; 4], u32)] = &[
            ([0, 0, 0, 0], 0),      // empty feature set
            ([1 << 2, 0, 0, 0], 0), // unknown feature bit
            ([A | 1 << 63, 0, 0, 0], 0),
            ([A, 4, 0, 0], 0), // unknown mode
            ([A, u64::MAX, 0, 0], 0),
            ([A, 1 << 32, 0, 0], 0), // mode must not be truncated
            ([A | P, 0, 4, 0], 0),
            ([A, 0, 0, 1], 0), // args[3]
            ([A, 0, 0, 0], 1), // flags
            ([A, 0, 0, 0], 1 << 31),
            ([P, 3, 0, 0], 0),     // APERF/MPERF mode without the feature
            ([A, 0, 1, 0], 0),     // PMU mode without the feature
            ([A | P, 0, 3, 0], 0), // PMU cannot emulate
        ];
        for &(args, flags) in bad {
            // Invalid wins over NotSupported, on any host.
            for host in [&NO_APERF, &FULL] {
                assert_eq!(
                    enable(args, flags, host),
                    Err(CapError::Invalid),
                    "{args:?} {flags}"
                );
            }
        }
    }

    #[test]
    fn not_supported_on_host_without_aperfmperf() {
        for mode in [Mode::Run, Mode::Entry] {
            assert_eq!(
                enable([A, mode as u64, 0, 0], 0, &NO_APERF),
                Err(CapError::NotSupported)
            );
        }
        assert_eq!(
            enable([A | P, 0, 0, 0], 0, &NO_APERF),
            Err(CapError::NotSupported)
        );
        assert_eq!(
            enable([P, 0, 0, 0], 0, &NO_APERF),
            Err(CapError::NotSupported)
        );
    }

    #[test]
    fn pmu_modes_follow_host() {
        let no_pmu = HostCaps { pmu: false, ..FULL };
        for (mode, effective) in [
            (PmuMode::Auto, PmuMode::Run),
            (PmuMode::Run, PmuMode::Run),
            (PmuMode::Entry, PmuMode::Entry),
        ] {
            let cfg = enable([P, 0, mode as u64, 0], 0, &FULL).unwrap();
            assert_eq!(cfg.pmu_mode, mode);
            assert_eq!(effective_pmu_mode(cfg.pmu_mode), effective);
            assert_eq!(
                enable([P, 0, mode as u64, 0], 0, &no_pmu),
                Err(CapError::NotSupported)
            );
        }
    }

    #[test]
    fn default_config_is_checked_like_the_cap() {
        assert_eq!(default_config(0, &FULL), Ok(None));
        let cfg = default_config(A | P, &FULL).unwrap().unwrap();
        assert_eq!(cfg.features, Features::ALL);
        assert_eq!(cfg.aperfmperf_mode, Mode::Auto);
        assert_eq!(cfg.pmu_mode, PmuMode::Auto);
        assert_eq!(default_config(1 << 2, &FULL), Err(CapError::Invalid));
        assert_eq!(default_config(P, &NO_APERF), Err(CapError::NotSupported));
    }

    #[test]
    fn auto_prefers_run_and_falls_back_to_emulate() {
        let plain = VcpuCaps::default();
        let scaled = VcpuCaps { tsc_scaled: true };
        assert_eq!(
            effective_aperfmperf_mode(Mode::Auto, &FULL, plain),
            Ok(Mode::Run)
        );
        assert_eq!(
            effective_aperfmperf_mode(Mode::Auto, &FULL, scaled),
            Ok(Mode::Emulate)
        );
        assert_eq!(
            effective_aperfmperf_mode(Mode::Auto, &NO_APERF, plain),
            Ok(Mode::Emulate)
        );
        for host in [&FULL, &NO_APERF] {
            for vcpu in [plain, scaled] {
                let m = effective_aperfmperf_mode(Mode::Emulate, host, vcpu);
                assert_eq!(m, Ok(Mode::Emulate));
            }
        }
    }

    #[test]
    fn explicit_hardware_mode_refused_when_tsc_scaled() {
        let scaled = VcpuCaps { tsc_scaled: true };
        for mode in [Mode::Run, Mode::Entry] {
            assert_eq!(
                effective_aperfmperf_mode(mode, &FULL, VcpuCaps::default()),
                Ok(mode)
            );
            assert_eq!(
                effective_aperfmperf_mode(mode, &FULL, scaled),
                Err(CapError::NotSupported)
            );
        }
    }

    #[test]
    fn vendor_that_scales_guest_mperf_keeps_hardware_modes() {
        let scaled = VcpuCaps { tsc_scaled: true };
        let host = HostCaps {
            guest_mperf_scaled: true,
            ..FULL
        };
        assert_eq!(
            effective_aperfmperf_mode(Mode::Auto, &host, scaled),
            Ok(Mode::Run)
        );
        assert_eq!(
            effective_aperfmperf_mode(Mode::Entry, &host, scaled),
            Ok(Mode::Entry)
        );
    }
}
