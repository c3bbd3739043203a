// SPDX-License-Identifier: GPL-2.0

//! The extension: `KVM_CAP_X86_VCOUNTERS`, per-VM opt-in, and per vCPU the
//! live clock and the state of each feature its VM enabled (one cell, so
//! that they change together), with `KVM_VCOUNTERS_GET_VCPU_STATE`. What a
//! feature does at each hook is the feature's ([`crate::feature`]).

use crate::aperfmperf::{bank::GuestSwitching, AperfMperf};
use crate::feature::{Feature, Hook};
use crate::kvm::{
    EnableCap, Extension, MsrAccess, MsrFault, StatDesc, Vcpu, VcpuCell, VcpuCtx, Vm,
};
use crate::logic::cap::{self, CapError, HostCaps, VmConfig, VmKind};
use crate::logic::live::{LiveClock, Transition};
use crate::logic::pmu::boundary::PmuPut;
use crate::logic::uapi::Features;
use crate::pmu::{self, PmuClock, PmuState};
use crate::stats::{VcpuStat, VCPU_STATS};
use kernel::{
    prelude::*,
    time::{Instant, Monotonic},
    transmute::AsBytes,
    uaccess::{UserPtr, UserSlice},
    uapi,
};

/// `KVM_VCOUNTERS_GET_VCPU_STATE`.
const GET_VCPU_STATE: u32 =
    kernel::ioctl::_IOR::<uapi::kvm_vcounters_vcpu_state>(uapi::KVMIO, 0xf0);

/// The errno of a refused capability or mode.
pub(crate) fn cap_errno(e: CapError) -> Error {
    match e {
        CapError::Invalid => EINVAL,
        CapError::NotSupported => EOPNOTSUPP,
    }
}

/// Whether `vm` can opt in at all ([`cap::vm_supported`]).
fn vm_supported(vm: &Vm) -> Result<(), CapError> {
    cap::vm_supported(VmKind {
        protected_state: vm.has_protected_state(),
    })
}

/// The extension: what this host offers, fixed at module init.
pub(crate) struct Vcounters {
    caps: HostCaps,
    /// Held while guest values may be loaded (the hardware modes); dropped
    /// after the extension is unregistered, when none are.
    _switching: Option<GuestSwitching>,
    /// Origin of the nanosecond clock of the live-time accounting.
    epoch: Instant<Monotonic>,
    /// What every new VM opts in to (the `default_features` parameter).
    defaults: Option<VmConfig>,
    aperfmperf: AperfMperf,
}

/// A VM that opted in.
pub(crate) struct VmData {
    config: VmConfig,
}

/// A vCPU of a VM that opted in.
pub(crate) struct VcpuData {
    config: VmConfig,
    state: VcpuCell<VcpuState>,
    /// The PMU's figures in RUN, kept outside `state`: KVM's load and put
    /// callbacks get no [`VcpuCtx`].
    pmu_clock: PmuClock,
}

/// The live context and, for each feature the VM enabled, its state.
struct VcpuState {
    clock: LiveClock,
    aperfmperf: Option<<AperfMperf as Feature>::State>,
    pmu: Option<PmuState>,
}

impl VcpuState {
    /// Whether some feature needs the VM-entry/exit hooks now.
    fn entry_hooks(&self) -> bool {
        self.aperfmperf
            .as_ref()
            .is_some_and(AperfMperf::entry_hooks)
            || self.pmu_switched_at_entry()
    }

    /// Whether KVM switches the vCPU's PMU at its VM-entries and exits.
    fn pmu_switched_at_entry(&self) -> bool {
        self.pmu.as_ref().is_some_and(PmuState::switched_at_entry)
    }
}

impl Vcounters {
    pub(crate) fn new(
        caps: HostCaps,
        switching: Option<GuestSwitching>,
        defaults: Option<VmConfig>,
    ) -> Self {
        Self {
            caps,
            _switching: switching,
            epoch: Instant::now(),
            defaults,
            aperfmperf: AperfMperf::new(caps),
        }
    }

    fn now_ns(&self) -> u64 {
        // Monotonic since `epoch`, so never negative.
        (Instant::<Monotonic>::now() - self.epoch).as_nanos() as u64
    }

    /// Runs `f` in the vCPU's state cell with the hook the features need.
    fn with_state<R>(
        cx: &mut VcpuCtx<'_>,
        data: &VcpuData,
        f: impl FnOnce(&mut VcpuState, &Hook<'_>) -> R,
    ) -> R {
        let vcpu = cx.vcpu();
        data.state
            .with(cx, |s, preempt| f(s, &Hook { vcpu, preempt }))
    }

    /// Applies one live-time event: the features' counters start or stop
    /// with the live context, and the stats follow.
    fn account(
        &self,
        cx: &mut VcpuCtx<'_>,
        data: &VcpuData,
        event: impl FnOnce(&mut LiveClock, u64) -> Transition,
    ) {
        let now_ns = self.now_ns();
        let tr = Self::with_state(cx, data, |s, hook| {
            let tr = event(&mut s.clock, now_ns);
            if let Some(c) = s.aperfmperf.as_mut() {
                if tr.started {
                    self.aperfmperf.live_start(hook, c);
                }
                if tr.stopped.is_some() {
                    self.aperfmperf.live_stop(hook, c);
                }
            }
            tr
        });
        let vcpu = cx.vcpu();
        if tr.started {
            vcpu.stat_add(VcpuStat::Switches, 1);
        }
        if let Some(d) = tr.stopped {
            vcpu.stat_add(VcpuStat::Switches, 1);
            vcpu.stat_add(VcpuStat::LiveNs, d);
        }
        if let Some(d) = tr.halted {
            vcpu.stat_add(VcpuStat::HaltedNs, d);
        }
    }
}

#[vtable]
impl Extension for Vcounters {
    type VmData = VmData;
    type VcpuData = VcpuData;

    const MSRS: &'static [u32] = AperfMperf::MSRS;
    const STATS: &'static [StatDesc] = &VCPU_STATS;

    fn check_extension(&self, _vm: Option<&Vm>, ext: isize) -> i32 {
        if ext == uapi::KVM_CAP_X86_VCOUNTERS as isize {
            // The feature mask is two bits: it always fits.
            self.caps.supported_features().bits() as i32
        } else {
            0
        }
    }

    fn enable_cap(&self, vm: &Vm, req: &EnableCap) -> Result<Option<KBox<VmData>>> {
        if req.cap != uapi::KVM_CAP_X86_VCOUNTERS {
            return Err(ENOTTY);
        }
        let config = cap::enable(req.args, req.flags, &self.caps).map_err(cap_errno)?;
        vm_supported(vm).map_err(cap_errno)?;
        Ok(Some(KBox::new(VmData { config }, GFP_KERNEL)?))
    }

    fn owns_msrs(&self, data: &VmData) -> bool {
        data.config.features.contains(AperfMperf::FEATURE)
    }

    fn vm_init(&self, vm: &Vm) -> Result<Option<KBox<VmData>>> {
        let Some(config) = self.defaults else {
            return Ok(None);
        };
        // The default is a policy for the VMs that can have it.
        if vm_supported(vm).is_err() {
            return Ok(None);
        }
        Ok(Some(KBox::new(VmData { config }, GFP_KERNEL)?))
    }

    fn mediated_pmu(&self, _vm: &Vm, data: Option<&VmData>) -> bool {
        pmu::wants_mediated(data.map(|d| &d.config))
    }

    fn vcpu_create(&self, vm: &VmData, vcpu: &Vcpu) -> Result<KBox<VcpuData>> {
        let config = vm.config;
        let state = VcpuState {
            clock: LiveClock::new(),
            aperfmperf: config
                .features
                .contains(AperfMperf::FEATURE)
                .then(|| self.aperfmperf.new_state(vcpu, &config)),
            pmu: config
                .features
                .contains(Features::PMU)
                .then(|| PmuState::new(vcpu, &config)),
        };
        vcpu.set_entry_hooks(state.entry_hooks());
        Ok(KBox::new(
            VcpuData {
                config,
                state: VcpuCell::new(state),
                pmu_clock: PmuClock::new(),
            },
            GFP_KERNEL,
        )?)
    }

    fn run_enter(&self, cx: &mut VcpuCtx<'_>, data: &VcpuData) -> Result {
        let changed = Self::with_state(cx, data, |s, hook| -> Result<_> {
            let mut changed = None;
            if let Some(c) = s.aperfmperf.as_mut() {
                let mode = self.aperfmperf.run_mode(hook.vcpu, &data.config)?;
                changed = self.aperfmperf.enter_mode(hook, c, mode);
            }
            // Also for the PMU, which KVM_SET_CPUID2 may have given or
            // taken away since the last KVM_RUN.
            if let Some(p) = s.pmu.as_mut() {
                p.run_enter(hook.vcpu);
            }
            hook.vcpu.set_entry_hooks(s.entry_hooks());
            Ok(changed)
        })?;
        if let Some(mode) = changed {
            self.aperfmperf.set_intercepts(cx.vcpu(), mode);
        }
        self.account(cx, data, LiveClock::run_enter);
        Ok(())
    }

    fn guest_enter(&self, cx: &mut VcpuCtx<'_>, data: &VcpuData) {
        let pmu_switch = Self::with_state(cx, data, |s, hook| {
            if let Some(c) = s.aperfmperf.as_mut() {
                self.aperfmperf.guest_enter(hook, c);
            }
            s.pmu_switched_at_entry()
        });
        // KVM loaded the guest's PMU context right before this hook.
        if pmu_switch {
            cx.vcpu().stat_add(VcpuStat::PmuSwitches, 1);
        }
    }

    fn guest_exit(&self, cx: &mut VcpuCtx<'_>, data: &VcpuData) {
        let pmu_switch = Self::with_state(cx, data, |s, hook| {
            if let Some(c) = s.aperfmperf.as_mut() {
                self.aperfmperf.guest_exit(hook, c);
            }
            s.pmu_switched_at_entry()
        });
        // KVM puts the guest's PMU context right after this hook.
        if pmu_switch {
            cx.vcpu().stat_add(VcpuStat::PmuSwitches, 1);
        }
    }

    fn pmu_loaded(&self, vcpu: &Vcpu, data: &VcpuData) {
        data.pmu_clock.loaded(vcpu, self.now_ns());
    }

    fn pmu_put(&self, vcpu: &Vcpu, data: &VcpuData, why: PmuPut) {
        data.pmu_clock.put(vcpu, self.now_ns(), why);
    }

    fn recalc_msr_intercepts(&self, cx: &mut VcpuCtx<'_>, data: &VcpuData) {
        // The vendor module just reset them to KVM's defaults.
        let mode = Self::with_state(cx, data, |s, _| s.aperfmperf.as_ref().map(AperfMperf::mode));
        if let Some(mode) = mode {
            self.aperfmperf.set_intercepts(cx.vcpu(), mode);
        }
    }

    fn run_exit(&self, cx: &mut VcpuCtx<'_>, data: &VcpuData) {
        self.account(cx, data, LiveClock::run_exit);
    }

    fn vcpu_load(&self, cx: &mut VcpuCtx<'_>, data: &VcpuData, _cpu: i32) {
        self.account(cx, data, LiveClock::load);
    }

    fn vcpu_put(&self, cx: &mut VcpuCtx<'_>, data: &VcpuData) {
        self.account(cx, data, LiveClock::put);
    }

    fn block_begin(&self, cx: &mut VcpuCtx<'_>, data: &VcpuData) {
        self.account(cx, data, LiveClock::block_begin);
    }

    fn block_end(&self, cx: &mut VcpuCtx<'_>, data: &VcpuData) {
        self.account(cx, data, LiveClock::block_end);
    }

    fn get_msr(
        &self,
        cx: &mut VcpuCtx<'_>,
        data: &VcpuData,
        msr: &MsrAccess,
    ) -> Option<Result<u64, MsrFault>> {
        if !AperfMperf::MSRS.contains(&msr.index) {
            return None;
        }
        // A VM without the feature: KVM's own answer.
        Self::with_state(cx, data, |s, hook| {
            let c = s.aperfmperf.as_mut()?;
            Some(self.aperfmperf.get_msr(hook, c, msr))
        })
    }

    fn set_msr(
        &self,
        cx: &mut VcpuCtx<'_>,
        data: &VcpuData,
        msr: &MsrAccess,
        value: u64,
    ) -> Option<Result<(), MsrFault>> {
        if !AperfMperf::MSRS.contains(&msr.index) {
            return None;
        }
        let r = Self::with_state(cx, data, |s, hook| {
            let c = s.aperfmperf.as_mut()?;
            let r = self.aperfmperf.set_msr(hook, c, msr, value);
            if let Ok(Some(_)) = r {
                hook.vcpu.set_entry_hooks(s.entry_hooks());
            }
            Some(r)
        })?;
        Some(r.map(|changed| {
            if let Some(mode) = changed {
                self.aperfmperf.set_intercepts(cx.vcpu(), mode);
            }
        }))
    }

    fn vcpu_ioctl(
        &self,
        cx: &mut VcpuCtx<'_>,
        data: Option<&VcpuData>,
        cmd: u32,
        arg: usize,
    ) -> Result<i64> {
        if cmd != GET_VCPU_STATE {
            return Err(ENOTTY);
        }
        let mut out = VcpuStateOut(pin_init::zeroed());
        if let Some(data) = data {
            let config = &data.config;
            out.0.features = config.features.bits();
            Self::with_state(cx, data, |s, hook| {
                if let Some(c) = &s.aperfmperf {
                    self.aperfmperf.report(hook, c, config, &mut out.0);
                }
                if let Some(p) = &s.pmu {
                    out.0.pmu_mode = p.mode(hook.vcpu).map_or(0, |m| m as u32);
                }
            });
        }
        let size = core::mem::size_of::<uapi::kvm_vcounters_vcpu_state>();
        UserSlice::new(UserPtr::from_addr(arg), size)
            .writer()
            .write(&out)?;
        Ok(0)
    }
}

/// `struct kvm_vcounters_vcpu_state` as copied to userspace.
#[repr(transparent)]
struct VcpuStateOut(uapi::kvm_vcounters_vcpu_state);

// SAFETY: the uapi struct is u64/u32 fields laid out without padding (two
// u32 between u64s, then u64s), so every byte is initialized.
unsafe impl AsBytes for VcpuStateOut {}
