// SPDX-License-Identifier: GPL-2.0

//! The extension itself: `KVM_CAP_X86_VCOUNTERS`, per-VM opt-in, and each
//! vCPU's virtual APERF/MPERF (EMULATE: guest reads and writes are
//! intercepted and served from counters that advance with the guest TSC
//! while the vCPU's context is live).

use crate::host;
use crate::kvm::{EnableCap, Extension, MsrAccess, MsrFault, Vcpu, VcpuCell, VcpuStat, Vm};
use crate::logic::aperfmperf::{Counter, VirtualCounters};
use crate::logic::cap::{self, CapError, HostCaps, VcpuCaps, VmConfig};
use crate::logic::live::{LiveClock, Transition};
use crate::logic::uapi::{Features, Mode};
use kernel::{
    bindings,
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

    /// Applies one live-time event to `vcpu`: the counters start or stop
    /// with the live context, and the stats follow.
    fn account(
        &self,
        vcpu: &Vcpu,
        data: &VcpuData,
        event: impl FnOnce(&mut LiveClock, u64) -> Transition,
    ) {
        let now = self.now_ns();
        let tsc = vcpu.l1_tsc();
        let tr = data.state.with(|s| {
            let tr = event(&mut s.clock, now);
            if tr.started {
                s.counters.start(tsc);
            }
            if tr.stopped.is_some() {
                s.counters.stop(tsc, host::current_ratio());
            }
            tr
        });
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
    counters: VirtualCounters,
}

/// CPUID.06H:ECX[0], APERFMPERF.
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

    fn supported_cpuid(&self, entry: &mut bindings::kvm_cpuid_entry2) {
        // Every host has a mode (EMULATE needs no counter hardware).
        if entry.function == CPUID_APERFMPERF_LEAF && entry.index == 0 {
            entry.ecx |= CPUID_APERFMPERF_ECX;
        }
    }

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
        let tsc = vcpu.l1_tsc();
        Some(Ok(data.state.with(|s| {
            s.counters.read(counter, tsc, host::current_ratio())
        })))
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
        let tsc = vcpu.l1_tsc();
        data.state
            .with(|s| s.counters.write(counter, value, tsc, host::current_ratio()));
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

    fn vcpu_create(&self, vm: &VmData, _vcpu: &Vcpu) -> Result<KBox<VcpuData>> {
        let state = VcpuState {
            clock: LiveClock::new(),
            counters: VirtualCounters::new(),
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
            let tsc = vcpu.l1_tsc();
            (out.0.aperf, out.0.mperf) = data.state.with(|s| {
                let ratio = host::current_ratio();
                (
                    s.counters.read(Counter::Aperf, tsc, ratio),
                    s.counters.read(Counter::Mperf, tsc, ratio),
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
