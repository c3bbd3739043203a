// SPDX-License-Identifier: GPL-2.0

//! The extension itself: `KVM_CAP_X86_VCOUNTERS`, per-VM opt-in and the
//! per-vCPU state behind `KVM_VCOUNTERS_GET_VCPU_STATE`.

use crate::kvm::{EnableCap, Extension, Vcpu, VcpuCell, VcpuStat, Vm};
use crate::logic::cap::{self, CapError, HostCaps, VcpuCaps, VmConfig};
use crate::logic::live::{LiveClock, Transition};
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

    /// Applies one live-time event to `vcpu` and updates its stats.
    fn account(
        &self,
        vcpu: &Vcpu,
        data: &VcpuData,
        event: impl FnOnce(&mut LiveClock, u64) -> Transition,
    ) {
        let now = self.now_ns();
        let tr = data.state.with(|s| event(&mut s.clock, now));
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

/// The guest's counters of one vCPU.
struct VcpuState {
    clock: LiveClock,
    aperf: u64,
    mperf: u64,
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

    fn vcpu_create(&self, vm: &VmData, _vcpu: &Vcpu) -> Result<KBox<VcpuData>> {
        let state = VcpuState {
            clock: LiveClock::new(),
            aperf: 0,
            mperf: 0,
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
        self.aperfmperf_mode(vcpu, &data.config)?;
        self.account(vcpu, data, LiveClock::run_enter);
        Ok(())
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
                // Before the first KVM_RUN the mode is what that run will
                // pick; a mode it would refuse is reported as requested.
                let mode = self.aperfmperf_mode(vcpu, c).unwrap_or(c.aperfmperf_mode);
                out.0.aperfmperf_mode = mode as u32;
            }
            if c.features.contains(Features::PMU) {
                out.0.pmu_mode = c.pmu_mode as u32;
            }
            (out.0.aperf, out.0.mperf) = data.state.with(|s| (s.aperf, s.mperf));
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
    fn aperfmperf_mode(&self, vcpu: &Vcpu, config: &VmConfig) -> Result<Mode> {
        let vcpu_caps = VcpuCaps {
            tsc_scaled: vcpu.tsc_scaled(),
        };
        cap::effective_aperfmperf_mode(config.aperfmperf_mode, &self.caps, vcpu_caps).map_err(errno)
    }
}

/// `struct kvm_vcounters_vcpu_state` as copied to userspace.
#[repr(transparent)]
struct VcpuStateOut(uapi::kvm_vcounters_vcpu_state);

// SAFETY: the uapi struct is u64/u32 fields laid out without padding (two
// u32 between u64s, then u64s), so every byte is initialized.
unsafe impl AsBytes for VcpuStateOut {}
