// SPDX-License-Identifier: GPL-2.0

//! The extension itself: `KVM_CAP_X86_VCOUNTERS`, per-VM opt-in and the
//! per-vCPU state behind `KVM_VCOUNTERS_GET_VCPU_STATE`.

use crate::kvm::{EnableCap, Extension, Vcpu, Vm};
use crate::logic::cap::{self, CapError, HostCaps, VcpuCaps, VmConfig};
use crate::logic::uapi::{Features, Mode};
use kernel::{
    new_spinlock,
    prelude::*,
    sync::SpinLock,
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
}

impl Counters {
    pub(crate) const fn new(caps: HostCaps) -> Self {
        Self { caps }
    }
}

/// A VM that opted in.
pub(crate) struct VmData {
    config: VmConfig,
}

/// A vCPU of a VM that opted in.
#[pin_data]
pub(crate) struct VcpuData {
    config: VmConfig,
    /// Taken only with preemption off (spinlock), so the preempt notifier
    /// (`vcpu_load`/`vcpu_put`) can never find it held by the interrupted
    /// task; see the concurrency notes in `kvm.rs`.
    #[pin]
    state: SpinLock<VcpuState>,
}

/// The guest's counters of one vCPU.
struct VcpuState {
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

    fn vcpu_create(&self, vm: &VmData, _vcpu: &Vcpu) -> Result<Pin<KBox<VcpuData>>> {
        KBox::pin_init(
            pin_init!(VcpuData {
                config: vm.config,
                state <- new_spinlock!(VcpuState { aperf: 0, mperf: 0 }),
            }),
            GFP_KERNEL,
        )
    }

    fn run_enter(&self, vcpu: &Vcpu, data: &Self::VcpuData) -> Result {
        self.aperfmperf_mode(vcpu, &data.config).map(|_| ())
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
            let state = data.state.lock();
            out.0.aperf = state.aperf;
            out.0.mperf = state.mperf;
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
