// SPDX-License-Identifier: GPL-2.0

//! The extension itself: `KVM_CAP_X86_VCOUNTERS`, per-VM opt-in, and each
//! vCPU's own APERF/MPERF, in one of three modes:
//! - EMULATE: guest reads and writes are intercepted and served from
//!   counters that advance with the guest TSC while the context is live;
//! - RUN: the guest's values sit in the MSRs from the load to the put of
//!   its live context, reads pass through, writes are intercepted;
//! - ENTRY: the same, switched at every VM-entry and VM-exit.

use crate::host::{self, CpuBank};
use crate::kvm::{EnableCap, Extension, MsrAccess, MsrFault, Vcpu, VcpuCell, VcpuStat, Vm};
use crate::logic::aperfmperf::Counter;
use crate::logic::cap::{self, CapError, HostCaps, VcpuCaps, VmConfig};
use crate::logic::live::{LiveClock, Transition};
use crate::logic::switch::{GuestCounters, Now};
use crate::logic::uapi::{Features, Mode};
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

/// The extension: what this host offers, fixed at module init.
pub(crate) struct Counters {
    caps: HostCaps,
    /// Origin of the nanosecond clock of the live-time accounting.
    epoch: Instant<Monotonic>,
}

/// The instant of an EMULATE read or switch. Preemption must be off (the
/// ratio is this CPU's).
fn now(vcpu: &Vcpu) -> Now {
    Now {
        tsc: vcpu.l1_tsc(),
        ratio: host::current_ratio(),
    }
}

/// Adds host MSR accesses of the switch code to the stat of `mode`.
fn count_accesses(vcpu: &Vcpu, mode: Mode, accesses: u64) {
    let stat = match mode {
        Mode::Run => VcpuStat::MsrAccessesRun,
        Mode::Entry => VcpuStat::MsrAccessesEntry,
        // EMULATE computes; it never touches the MSRs.
        Mode::Auto | Mode::Emulate => return,
    };
    if accesses != 0 {
        vcpu.stat_add(stat, accesses);
    }
}

impl Counters {
    pub(crate) fn new(caps: HostCaps) -> Self {
        Self {
            caps,
            epoch: Instant::now(),
        }
    }

    fn now_ns(&self) -> u64 {
        // Monotonic since `epoch`, so never negative.
        (Instant::<Monotonic>::now() - self.epoch).as_nanos() as u64
    }

    /// Applies one live-time event to `vcpu`: the counters start or stop
    /// with the live context, and the stats follow.
    fn account(
        &self,
        vcpu: &Vcpu,
        data: &VcpuData,
        event: impl FnOnce(&mut LiveClock, u64) -> Transition,
    ) {
        let now_ns = self.now_ns();
        let (tr, mode, accesses) = data.state.with(|s| {
            let tr = event(&mut s.clock, now_ns);
            let mut accesses = 0;
            if tr.started {
                accesses += s.counters.live_start(now(vcpu), &mut CpuBank);
            }
            if tr.stopped.is_some() {
                accesses += s.counters.live_stop(now(vcpu), &mut CpuBank);
            }
            (tr, s.counters.mode(), accesses)
        });
        count_accesses(vcpu, mode, accesses);
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

/// A VM that opted in.
pub(crate) struct VmData {
    config: VmConfig,
}

/// A vCPU of a VM that opted in.
pub(crate) struct VcpuData {
    config: VmConfig,
    state: VcpuCell<VcpuState>,
}

/// The live context and the guest's counters of one vCPU.
struct VcpuState {
    clock: LiveClock,
    counters: GuestCounters,
}

/// CPUID.06H:ECX[0], APERFMPERF. Not added to KVM_GET_SUPPORTED_CPUID: that
/// answer is system-wide, and a VMM that copies it into a VM that did not
/// opt in would give its guest counters whose accesses #GP. The VMM sets
/// the bit for the VMs it opted in.
const CPUID_APERFMPERF_LEAF: u32 = 6;
const CPUID_APERFMPERF_ECX: u32 = 1 << 0;

/// Whether the guest of `vcpu` was given APERFMPERF in its CPUID.
fn guest_has_aperfmperf(vcpu: &Vcpu) -> bool {
    vcpu.guest_cpuid(CPUID_APERFMPERF_LEAF, 0)
        .is_some_and(|e| e.ecx & CPUID_APERFMPERF_ECX != 0)
}

impl VcpuData {
    fn has_aperfmperf(&self) -> bool {
        self.config.features.contains(Features::APERFMPERF)
    }

    /// The counter an access names, if this vCPU has the feature and the
    /// accessor may use it: userspace always (migration), the guest only
    /// with the CPUID bit, like any other MSR upstream.
    fn counter(&self, vcpu: &Vcpu, msr: &MsrAccess) -> Option<Result<Counter, MsrFault>> {
        let counter = Counter::from_msr(msr.index)?;
        if !self.has_aperfmperf() {
            return None;
        }
        if !msr.host_initiated {
            vcpu.stat_add(VcpuStat::MsrExits, 1);
        }
        if !msr.host_initiated && !guest_has_aperfmperf(vcpu) {
            return Some(Err(MsrFault));
        }
        Some(Ok(counter))
    }
}

fn errno(e: CapError) -> Error {
    match e {
        CapError::Invalid => EINVAL,
        CapError::NotSupported => EOPNOTSUPP,
    }
}

impl Extension for Counters {
    type VmData = VmData;
    type VcpuData = VcpuData;

    const MSRS: &'static [u32] = &Counter::MSRS;

    fn get_msr(
        &self,
        vcpu: &Vcpu,
        data: &VcpuData,
        msr: &MsrAccess,
    ) -> Option<Result<u64, MsrFault>> {
        let counter = match data.counter(vcpu, msr)? {
            Ok(c) => c,
            Err(f) => return Some(Err(f)),
        };
        let (value, mode, accesses) = data.state.with(|s| {
            let (value, accesses) = s.counters.read(counter, now(vcpu), &mut CpuBank);
            (value, s.counters.mode(), accesses)
        });
        count_accesses(vcpu, mode, accesses);
        Some(Ok(value))
    }

    fn set_msr(
        &self,
        vcpu: &Vcpu,
        data: &VcpuData,
        msr: &MsrAccess,
        value: u64,
    ) -> Option<Result<(), MsrFault>> {
        let counter = match data.counter(vcpu, msr)? {
            Ok(c) => c,
            Err(f) => return Some(Err(f)),
        };
        let (was, mode, accesses) = data.state.with(|s| {
            let was = s.counters.mode();
            let accesses = s.counters.write(counter, value, now(vcpu), &mut CpuBank);
            (was, s.counters.mode(), accesses)
        });
        count_accesses(vcpu, was, accesses);
        if mode != was {
            // A value that may wrap while loaded: the guest's reads of the
            // emulated counters must exit from now on.
            self.set_intercepts(vcpu, data, mode);
        }
        Some(Ok(()))
    }

    fn check_extension(&self, _vm: Option<&Vm>, ext: isize) -> i32 {
        if ext == uapi::KVM_CAP_X86_VCOUNTERS as isize {
            // The feature mask is two bits: it always fits.
            self.caps.supported_features().bits() as i32
        } else {
            0
        }
    }

    fn enable_cap(&self, _vm: &Vm, req: &EnableCap) -> Result<Option<KBox<VmData>>> {
        if req.cap != uapi::KVM_CAP_X86_VCOUNTERS {
            return Err(ENOTTY);
        }
        let config = cap::enable(req.args, req.flags, &self.caps).map_err(errno)?;
        Ok(Some(KBox::new(VmData { config }, GFP_KERNEL)?))
    }

    fn vcpu_create(&self, vm: &VmData, vcpu: &Vcpu) -> Result<KBox<VcpuData>> {
        // What the first KVM_RUN will pick, unless the TSC changes first.
        let mode = self
            .aperfmperf_mode(vcpu, &vm.config)
            .unwrap_or(Mode::Emulate);
        let state = VcpuState {
            clock: LiveClock::new(),
            counters: GuestCounters::new(mode),
        };
        Ok(KBox::new(
            VcpuData {
                config: vm.config,
                state: VcpuCell::new(state),
            },
            GFP_KERNEL,
        )?)
    }

    fn run_enter(&self, vcpu: &Vcpu, data: &Self::VcpuData) -> Result {
        let mode = self.aperfmperf_mode(vcpu, &data.config)?;
        // Not live yet: the values are stable and can move between modes
        // (the TSC frequency may have changed since the vCPU was created;
        // values that may wrap while loaded stay emulated until they have).
        let changed = data.state.with(|s| {
            let was = s.counters.mode();
            let now = now(vcpu);
            let mode = s.counters.effective_mode(mode, now, &mut CpuBank);
            if mode != was {
                s.counters.set_mode(mode, now, &mut CpuBank);
            }
            (s.counters.mode() != was).then(|| s.counters.mode())
        });
        if let Some(mode) = changed {
            self.set_intercepts(vcpu, data, mode);
        }
        self.account(vcpu, data, LiveClock::run_enter);
        Ok(())
    }

    fn guest_enter(&self, vcpu: &Vcpu, data: &Self::VcpuData) {
        let (mode, accesses) = data
            .state
            .with(|s| (s.counters.mode(), s.counters.guest_enter(&mut CpuBank)));
        count_accesses(vcpu, mode, accesses);
    }

    fn guest_exit(&self, vcpu: &Vcpu, data: &Self::VcpuData) {
        let (mode, accesses) = data
            .state
            .with(|s| (s.counters.mode(), s.counters.guest_exit(&mut CpuBank)));
        count_accesses(vcpu, mode, accesses);
    }

    fn recalc_msr_intercepts(&self, vcpu: &Vcpu, data: &Self::VcpuData) {
        // The vendor module just reset them to KVM's defaults.
        let mode = data.state.with(|s| s.counters.mode());
        self.set_intercepts(vcpu, data, mode);
    }

    fn run_exit(&self, vcpu: &Vcpu, data: &Self::VcpuData) {
        self.account(vcpu, data, LiveClock::run_exit);
    }

    fn vcpu_load(&self, vcpu: &Vcpu, data: &Self::VcpuData, _cpu: i32) {
        self.account(vcpu, data, LiveClock::load);
    }

    fn vcpu_put(&self, vcpu: &Vcpu, data: &Self::VcpuData) {
        self.account(vcpu, data, LiveClock::put);
    }

    fn block_begin(&self, vcpu: &Vcpu, data: &Self::VcpuData) {
        self.account(vcpu, data, LiveClock::block_begin);
    }

    fn block_end(&self, vcpu: &Vcpu, data: &Self::VcpuData) {
        self.account(vcpu, data, LiveClock::block_end);
    }

    fn vcpu_ioctl(
        &self,
        vcpu: &Vcpu,
        data: Option<&Self::VcpuData>,
        cmd: u32,
        arg: usize,
    ) -> Result<i64> {
        if cmd != GET_VCPU_STATE {
            return Err(ENOTTY);
        }
        let mut out = VcpuStateOut(pin_init::zeroed());
        if let Some(data) = data {
            let c = &data.config;
            out.0.features = c.features.bits();
            if c.features.contains(Features::APERFMPERF) {
                // Outside KVM_RUN, the mode the next run will pick; a mode
                // it would refuse is reported as requested.
                let mode = self.aperfmperf_mode(vcpu, c).unwrap_or(c.aperfmperf_mode);
                let mode = data
                    .state
                    .with(|s| s.counters.effective_mode(mode, now(vcpu), &mut CpuBank));
                out.0.aperfmperf_mode = mode as u32;
            }
            if c.features.contains(Features::PMU) {
                out.0.pmu_mode = c.pmu_mode as u32;
            }
            // Outside KVM_RUN nothing is loaded: no MSR is touched.
            (out.0.aperf, out.0.mperf) = data.state.with(|s| {
                let now = now(vcpu);
                (
                    s.counters.read(Counter::Aperf, now, &mut CpuBank).0,
                    s.counters.read(Counter::Mperf, now, &mut CpuBank).0,
                )
            });
        }
        let size = core::mem::size_of::<uapi::kvm_vcounters_vcpu_state>();
        UserSlice::new(UserPtr::from_addr(arg), size)
            .writer()
            .write(&out)?;
        Ok(0)
    }
}

impl Counters {
    /// The APERF/MPERF mode `vcpu` runs in, or why it cannot run.
    /// EMULATE (which costs nothing while nobody reads) without the feature.
    fn aperfmperf_mode(&self, vcpu: &Vcpu, config: &VmConfig) -> Result<Mode> {
        if !config.features.contains(Features::APERFMPERF) {
            return Ok(Mode::Emulate);
        }
        let vcpu_caps = VcpuCaps {
            tsc_scaled: vcpu.tsc_scaled(),
        };
        cap::effective_aperfmperf_mode(config.aperfmperf_mode, &self.caps, vcpu_caps).map_err(errno)
    }

    /// Guest reads pass through in the hardware modes, unless the guest
    /// lacks the CPUID bit (its reads must #GP). Writes always exit: the
    /// host's offsets must follow them.
    fn set_intercepts(&self, vcpu: &Vcpu, data: &VcpuData, mode: Mode) {
        if !data.has_aperfmperf() {
            return;
        }
        let passthrough = matches!(mode, Mode::Run | Mode::Entry) && guest_has_aperfmperf(vcpu);
        for msr in Counter::MSRS {
            vcpu.set_msr_intercept(msr, !passthrough, true);
        }
    }
}

/// `struct kvm_vcounters_vcpu_state` as copied to userspace.
#[repr(transparent)]
struct VcpuStateOut(uapi::kvm_vcounters_vcpu_state);

// SAFETY: the uapi struct is u64/u32 fields laid out without padding (two
// u32 between u64s, then u64s), so every byte is initialized.
unsafe impl AsBytes for VcpuStateOut {}
