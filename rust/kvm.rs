// SPDX-License-Identifier: GPL-2.0

//! Safe Rust over the KVM x86 extension interface (`asm/kvm_extension.h`).
//!
//! [`Extension`] is the Rust face of `struct kvm_x86_ext_ops`: every
//! callback is a trait method that defaults to KVM's behaviour without an
//! extension. [`Registration`] builds the ops table with one `extern "C"`
//! trampoline per callback, registers it, and unregisters it when dropped.
//!
//! Per-VM and per-vCPU data are owned here: the VM's is created by
//! [`Extension::enable_cap`] and freed by KVM's `vm_destroy` callback, the
//! vCPU's by `vcpu_create` and `vcpu_destroy`. Both live behind the private
//! pointers KVM keeps for the extension, which only this module reads.
//!
//! Concurrency: KVM calls the per-vCPU callbacks from the task that holds
//! `vcpu->mutex`, or from the preempt notifiers KVM registers for that
//! task between `vcpu_load` and `vcpu_put`, so two of them never run at
//! once for one vCPU; but a preempt notifier can interrupt any preemptible
//! code of that task, ioctls included, and runs under the runqueue's raw
//! spinlock, where no sleeping-capable lock (`spinlock_t` included, which
//! lockdep reports as an invalid wait context) may be taken. So:
//! - every per-vCPU callback gets a [`VcpuCtx`], its right to that vCPU's
//!   mutable state, which only the trampolines here create;
//! - mutable state sits in a [`VcpuCell`], which hands out `&mut` only to
//!   a closure run with preemption off (no notifier can run inside it) and
//!   only against a `&mut VcpuCtx` (the closure cannot reach the cell
//!   again: the context stays borrowed while it runs);
//! - a `VcpuCell` is not `Sync`: it cannot sit in per-VM data, which all
//!   vCPUs share, and per-vCPU data, which must be `Send`, cannot hold a
//!   reference to another vCPU's cell.

use crate::logic::pmu::boundary::PmuPut;
use crate::shim;
use core::{
    marker::PhantomData,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{bindings, error::to_result, prelude::*, types::Opaque};

/// Preemption is disabled on this CPU for as long as this lives, so that
/// per-CPU state (the counters in the MSRs, the tick's sample) stays this
/// CPU's. Not `Send`: it is dropped on the CPU it was taken on.
pub(crate) struct PreemptGuard(PhantomData<*mut ()>);

impl PreemptGuard {
    /// Disables preemption until the guard is dropped. Nests; also fine
    /// with IRQs off.
    pub(crate) fn new() -> Self {
        // SAFETY: plain preempt_disable(), undone by `drop`.
        unsafe { shim::vcounters_preempt_disable() };
        Self(PhantomData)
    }
}

impl Drop for PreemptGuard {
    fn drop(&mut self) {
        // SAFETY: pairs with the preempt_disable() of `new`.
        unsafe { shim::vcounters_preempt_enable() };
    }
}

// The per-vCPU exclusivity types, in a file of their own so that a host
// test (tests/vcpu_cell.rs) compiles them and shows what they refuse.
mod cell;
pub(crate) use cell::{VcpuCell, VcpuCtx};

/// Whether KVM can give VMs a mediated vPMU on this host: its vendor
/// module was loaded with `enable_mediated_pmu=1` and the host PMU passed
/// KVM's checks.
pub(crate) fn host_mediated_pmu() -> bool {
    // SAFETY: reads a flag KVM fixed when its vendor module loaded, which
    // this module depends on.
    unsafe { bindings::kvm_x86_ext_host_mediated_pmu() }
}

/// A VM (`struct kvm`).
#[repr(transparent)]
pub(crate) struct Vm(Opaque<bindings::kvm>);

/// A vCPU (`struct kvm_vcpu`).
#[repr(transparent)]
pub(crate) struct Vcpu(Opaque<bindings::kvm_vcpu>);

impl Vm {
    /// # Safety
    ///
    /// `ptr` points to a `struct kvm` that lives for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::kvm) -> &'a Self {
        // SAFETY: `Vm` is a transparent wrapper of `struct kvm`, which
        // lives for `'a` by the caller's guarantee.
        unsafe { &*ptr.cast() }
    }

    fn as_raw(&self) -> *mut bindings::kvm {
        self.0.get()
    }

    /// Whether the guest's state is protected from KVM (SEV-ES, SNP, TDX).
    pub(crate) fn has_protected_state(&self) -> bool {
        // SAFETY: `self` is a live VM; the flag is set at VM creation.
        unsafe { shim::vcounters_vm_has_protected_state(self.as_raw()) }
    }
}

impl Vcpu {
    /// # Safety
    ///
    /// `ptr` points to a `struct kvm_vcpu` that lives for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::kvm_vcpu) -> &'a Self {
        // SAFETY: `Vcpu` is a transparent wrapper of `struct kvm_vcpu`,
        // which lives for `'a` by the caller's guarantee.
        unsafe { &*ptr.cast() }
    }

    fn as_raw(&self) -> *mut bindings::kvm_vcpu {
        self.0.get()
    }

    /// The VM this vCPU belongs to.
    pub(crate) fn vm(&self) -> &Vm {
        // SAFETY: `self` is a live vCPU, whose VM is set at creation and
        // outlives it.
        unsafe { Vm::from_raw(shim::vcounters_vcpu_kvm(self.as_raw())) }
    }

    /// Whether KVM mediates this vCPU's PMU: its VM was given the
    /// mediated vPMU before its first vCPU was created, and the vCPU's
    /// CPUID gives it a PMU (which may change until its first `KVM_RUN`).
    pub(crate) fn has_mediated_pmu(&self) -> bool {
        // SAFETY: `self` is a live vCPU; the flag and the PMU version are
        // set before the vCPU runs, under its mutex or the VM's lock.
        unsafe { shim::vcounters_vcpu_has_mediated_pmu(self.as_raw()) }
    }

    /// Adds `delta` to the vCPU's binary stat `stat`, an index into the
    /// extension's [`Extension::STATS`] (KVM warns once and ignores any
    /// other).
    pub(crate) fn stat_add(&self, stat: impl Into<u32>, delta: u64) {
        // SAFETY: `self` is a live vCPU; KVM's stats are written by the
        // task that runs the vCPU, as here, and read racily by stats fds.
        unsafe { bindings::kvm_x86_ext_stat_add(self.as_raw(), stat.into(), delta) }
    }

    /// Whether KVM keeps this vCPU's mediated PMU loaded from a VM-entry
    /// until `vcpu_put`, a software access to its state, or host perf
    /// needing the PMU, rather than putting it at every VM-exit (off for a
    /// new vCPU; nothing for one without a mediated PMU).
    pub(crate) fn set_pmu_lazy_put(&self, on: bool) {
        // SAFETY: `self` is a live vCPU; callers run in its task, between
        // `vcpu_load` and `vcpu_put`, where KVM expects the switch.
        unsafe { bindings::kvm_x86_ext_set_pmu_lazy_put(self.as_raw(), on) }
    }

    /// Whether the extension's `guest_enter`/`guest_exit` run around this
    /// vCPU's VM-entries and exits (off for a new vCPU).
    pub(crate) fn set_entry_hooks(&self, on: bool) {
        // SAFETY: `self` is a live vCPU; the flag is read by its own task
        // at VM-entry, and callers run in that task.
        unsafe { bindings::kvm_x86_ext_set_entry_hooks(self.as_raw(), on) }
    }

    /// The vCPU's TSC as L1 sees it now (offset and scaled).
    pub(crate) fn l1_tsc(&self) -> u64 {
        // SAFETY: `self` is a live vCPU.
        unsafe { bindings::kvm_x86_ext_read_l1_tsc(self.as_raw()) }
    }

    /// The guest's CPUID entry for `function`/`index`, if it has one.
    pub(crate) fn guest_cpuid(
        &self,
        function: u32,
        index: u32,
    ) -> Option<bindings::kvm_cpuid_entry2> {
        // SAFETY: `self` is a live vCPU; callbacks run under its mutex or
        // in its task, so its CPUID table is not being replaced.
        let e = unsafe { bindings::kvm_x86_ext_guest_cpuid(self.as_raw(), function, index) };
        // SAFETY: non-NULL entries point into that live table.
        (!e.is_null()).then(|| unsafe { *e })
    }

    /// Intercepts (`true`) or passes through guest reads and writes of
    /// `msr`, through the vendor module. Takes effect at the next entry.
    pub(crate) fn set_msr_intercept(&self, msr: u32, read: bool, write: bool) {
        // SAFETY: `self` is a live vCPU, and callers run in its task
        // (ioctls and callbacks under its mutex), which owns its bitmaps.
        unsafe { bindings::kvm_x86_ext_set_msr_intercept(self.as_raw(), msr, read, write) }
    }

    /// Whether the vCPU's TSC runs at a hardware-scaled rate.
    pub(crate) fn tsc_scaled(&self) -> bool {
        // SAFETY: `self` is a live vCPU.
        unsafe { bindings::kvm_x86_ext_vcpu_tsc_scaled(self.as_raw()) }
    }
}

/// The description of one per-vCPU binary stat the extension keeps (one
/// `u64`): KVM appends it to its own stats, and sets its offset.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct StatDesc(bindings::kvm_stats_desc);

impl StatDesc {
    /// A count of events.
    pub(crate) const fn counter(name: &CStr) -> Self {
        Self::new(name, bindings::KVM_STATS_UNIT_NONE, 0)
    }

    /// A time in nanoseconds.
    pub(crate) const fn time_ns(name: &CStr) -> Self {
        Self::new(name, bindings::KVM_STATS_UNIT_SECONDS, -9)
    }

    const fn new(name: &CStr, unit: u32, exponent: i16) -> Self {
        let bytes = name.to_bytes();
        // A build error, not a truncated name: KVM wants it NUL-terminated.
        assert!(bytes.len() < bindings::KVM_STATS_NAME_SIZE as usize);
        let mut desc_name = [0; bindings::KVM_STATS_NAME_SIZE as usize];
        let mut i = 0;
        while i < bytes.len() {
            desc_name[i] = bytes[i] as c_char;
            i += 1;
        }
        Self(bindings::kvm_stats_desc {
            flags: bindings::KVM_STATS_TYPE_CUMULATIVE | unit | bindings::KVM_STATS_BASE_POW10,
            exponent,
            size: 1,
            offset: 0,
            bucket_size: 0,
            name: desc_name,
        })
    }
}

/// What `KVM_ENABLE_CAP` on a VM asked for.
pub(crate) struct EnableCap {
    /// The capability number.
    pub(crate) cap: u32,
    /// `flags`: KVM has already refused non-zero values.
    pub(crate) flags: u32,
    /// `args[0..4]`.
    pub(crate) args: [u64; 4],
}

/// An extension of KVM x86. Every callback defaults to what KVM does
/// without an extension; a per-vCPU one the extension does not implement
/// is left out of the ops table, so KVM makes no call for it.
#[vtable]
pub(crate) trait Extension: Sized + Sync + 'static {
    /// Per-VM data of an attached VM.
    type VmData: Send + Sync;
    /// Per-vCPU data of a vCPU of an attached VM: reached only from that
    /// vCPU's callbacks, from whichever task runs it.
    type VcpuData: Send;

    /// MSRs to add to `KVM_GET_MSR_INDEX_LIST`.
    const MSRS: &'static [u32] = &[];

    /// Per-vCPU binary stats of attached VMs, indexed as
    /// [`Vcpu::stat_add`] names them.
    const STATS: &'static [StatDesc] = &[];

    /// `KVM_CHECK_EXTENSION` for a capability KVM does not know, on
    /// `/dev/kvm` (`vm` is `None`) or on a VM.
    fn check_extension(&self, _vm: Option<&Vm>, _ext: isize) -> i32 {
        0
    }

    /// `KVM_ENABLE_CAP` for a capability KVM does not know. `Ok(Some)`
    /// attaches the VM with that data; `Err(ENOTTY)` means "not ours".
    fn enable_cap(&self, _vm: &Vm, _cap: &EnableCap) -> Result<Option<KBox<Self::VmData>>> {
        Err(ENOTTY)
    }

    /// Whether the extension handles its [`Extension::MSRS`] for a VM
    /// attached with `data`; if not, they stay KVM's for it.
    fn owns_msrs(&self, _data: &Self::VmData) -> bool {
        true
    }

    /// A new VM, set up by KVM. `Ok(Some)` attaches it with that data;
    /// an error fails `KVM_CREATE_VM`.
    fn vm_init(&self, _vm: &Vm) -> Result<Option<KBox<Self::VmData>>> {
        Ok(None)
    }

    /// Whether `vm` gets KVM's mediated vPMU, on a host where KVM can
    /// mediate ([`host_mediated_pmu`]); `data` is the VM's if attached.
    /// Asked under `kvm->lock` before a vCPU is created, until the VM has
    /// one: the answer must not change for a VM. Without it, every VM does.
    fn mediated_pmu(&self, _vm: &Vm, _data: Option<&Self::VmData>) -> bool {
        true
    }

    /// A vCPU ioctl KVM does not know, for any VM; `vm_data` is `None`
    /// unless the vCPU's VM is attached. `Err(ENOTTY)` means "not ours".
    fn vcpu_ioctl(
        &self,
        _cx: &mut VcpuCtx<'_>,
        _data: Option<&Self::VcpuData>,
        _cmd: u32,
        _arg: usize,
    ) -> Result<i64> {
        Err(ENOTTY)
    }

    /// Creates the data of a new vCPU of an attached VM.
    fn vcpu_create(&self, vm: &Self::VmData, vcpu: &Vcpu) -> Result<KBox<Self::VcpuData>>;

    /// `vcpu_load`, preemption off.
    fn vcpu_load(&self, _cx: &mut VcpuCtx<'_>, _data: &Self::VcpuData, _cpu: i32) {}

    /// `vcpu_put`, preemption off.
    fn vcpu_put(&self, _cx: &mut VcpuCtx<'_>, _data: &Self::VcpuData) {}

    /// `KVM_RUN` entry; an error fails the ioctl.
    fn run_enter(&self, _cx: &mut VcpuCtx<'_>, _data: &Self::VcpuData) -> Result {
        Ok(())
    }

    /// `KVM_RUN` exit.
    fn run_exit(&self, _cx: &mut VcpuCtx<'_>, _data: &Self::VcpuData) {}

    /// Before the VM-entry/exit loop, IRQs off.
    fn guest_enter(&self, _cx: &mut VcpuCtx<'_>, _data: &Self::VcpuData) {}

    /// After the VM-entry/exit loop, IRQs off.
    fn guest_exit(&self, _cx: &mut VcpuCtx<'_>, _data: &Self::VcpuData) {}

    /// Before the vCPU halts or blocks inside `KVM_RUN`.
    fn block_begin(&self, _cx: &mut VcpuCtx<'_>, _data: &Self::VcpuData) {}

    /// After the vCPU halted or blocked.
    fn block_end(&self, _cx: &mut VcpuCtx<'_>, _data: &Self::VcpuData) {}

    /// `KVM_GET_SUPPORTED_CPUID`: adjusts one entry.
    fn supported_cpuid(&self, _entry: &mut bindings::kvm_cpuid_entry2) {}

    /// Reads an MSR KVM does not know; `None` leaves it to KVM.
    fn get_msr(
        &self,
        _cx: &mut VcpuCtx<'_>,
        _data: &Self::VcpuData,
        _msr: &MsrAccess,
    ) -> Option<Result<u64, MsrFault>> {
        None
    }

    /// Writes an MSR KVM does not know; `None` leaves it to KVM.
    fn set_msr(
        &self,
        _cx: &mut VcpuCtx<'_>,
        _data: &Self::VcpuData,
        _msr: &MsrAccess,
        _value: u64,
    ) -> Option<Result<(), MsrFault>> {
        None
    }

    /// After the vendor module recomputed the vCPU's MSR intercepts.
    fn recalc_msr_intercepts(&self, _cx: &mut VcpuCtx<'_>, _data: &Self::VcpuData) {}

    /// KVM loaded, at a VM-entry, the mediated PMU of a vCPU that keeps it
    /// loaded across VM-exits ([`Vcpu::set_pmu_lazy_put`]). IRQs off.
    ///
    /// No [`VcpuCtx`] here nor in [`Extension::pmu_put`]: a put may come
    /// from perf's IPI, interrupting another callback of the same vCPU,
    /// so neither may reach the vCPU's [`VcpuCell`].
    fn pmu_loaded(&self, _vcpu: &Vcpu, _data: &Self::VcpuData) {}

    /// KVM put such a vCPU's mediated PMU, for `why`. IRQs off.
    fn pmu_put(&self, _vcpu: &Vcpu, _data: &Self::VcpuData, _why: PmuPut) {}
}

/// KVM's reason for a put, in the logic's terms.
fn pmu_put_reason(why: bindings::kvm_x86_ext_pmu_put) -> PmuPut {
    match why {
        bindings::kvm_x86_ext_pmu_put_KVM_X86_EXT_PMU_PUT_EXIT => PmuPut::Exit,
        bindings::kvm_x86_ext_pmu_put_KVM_X86_EXT_PMU_PUT_VCPU => PmuPut::VcpuPut,
        bindings::kvm_x86_ext_pmu_put_KVM_X86_EXT_PMU_PUT_PREEMPT => PmuPut::Preempt,
        // KVM_X86_EXT_PMU_PUT_SYNC, and any reason KVM adds later: a put
        // for KVM's own access to the state.
        _ => PmuPut::Sync,
    }
}

/// One MSR access KVM hands to the extension.
pub(crate) struct MsrAccess {
    /// The MSR index.
    pub(crate) index: u32,
    /// Userspace's `KVM_GET_MSRS`/`KVM_SET_MSRS`, not the guest.
    pub(crate) host_initiated: bool,
}

/// An MSR access refused: #GP for the guest, an error for userspace.
pub(crate) struct MsrFault;

/// Extension `E` registered with KVM; unregistered on drop, before the
/// extension itself is freed (fields drop after `Drop::drop`).
pub(crate) struct Registration<E: Extension> {
    ops: Pin<KBox<Opaque<bindings::kvm_x86_ext_ops>>>,
    _ext: KBox<E>,
}

// SAFETY: the ops table is only read by KVM after registration and freed
// after unregistration; it holds no thread-bound state.
unsafe impl<E: Extension> Send for Registration<E> {}
// SAFETY: as above, `&Registration` gives no access to the table.
unsafe impl<E: Extension> Sync for Registration<E> {}

/// The one extension instance the trampolines call into.
///
/// # Invariants
///
/// Set before the ops table is registered, never changed while it is.
static INSTANCE: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// `Some(op)` if the extension implements it: KVM makes no call for a
/// per-vCPU callback left out of the table.
macro_rules! optional_op {
    ($has:expr, $op:expr) => {
        if $has {
            Some($op)
        } else {
            None
        }
    };
}

impl<E: Extension> Registration<E> {
    /// Registers `ext` with KVM for `module`.
    pub(crate) fn new(module: &'static ThisModule, ext: E) -> Result<Self> {
        let ext = KBox::new(ext, GFP_KERNEL)?;
        let ops = bindings::kvm_x86_ext_ops {
            owner: module.as_ptr(),
            msrs: E::MSRS.as_ptr(),
            nr_msrs: E::MSRS.len() as u32,
            check_extension: Some(check_extension::<E>),
            enable_cap: Some(enable_cap::<E>),
            vm_init: optional_op!(E::HAS_VM_INIT, vm_init::<E>),
            mediated_pmu: optional_op!(E::HAS_MEDIATED_PMU, mediated_pmu::<E>),
            supported_cpuid: Some(supported_cpuid::<E>),
            vcpu_ioctl: Some(vcpu_ioctl::<E>),
            vm_destroy: Some(vm_destroy::<E>),
            vcpu_create: Some(vcpu_create::<E>),
            vcpu_destroy: Some(vcpu_destroy::<E>),
            vcpu_load: optional_op!(E::HAS_VCPU_LOAD, vcpu_load::<E>),
            vcpu_put: optional_op!(E::HAS_VCPU_PUT, vcpu_put::<E>),
            run_enter: optional_op!(E::HAS_RUN_ENTER, run_enter::<E>),
            run_exit: optional_op!(E::HAS_RUN_EXIT, run_exit::<E>),
            guest_enter: optional_op!(E::HAS_GUEST_ENTER, guest_enter::<E>),
            guest_exit: optional_op!(E::HAS_GUEST_EXIT, guest_exit::<E>),
            block_begin: optional_op!(E::HAS_BLOCK_BEGIN, block_begin::<E>),
            block_end: optional_op!(E::HAS_BLOCK_END, block_end::<E>),
            get_msr: Some(get_msr::<E>),
            set_msr: Some(set_msr::<E>),
            recalc_msr_intercepts: optional_op!(
                E::HAS_RECALC_MSR_INTERCEPTS,
                recalc_msr_intercepts::<E>
            ),
            pmu_loaded: optional_op!(E::HAS_PMU_LOADED, pmu_loaded::<E>),
            pmu_put: optional_op!(E::HAS_PMU_PUT, pmu_put::<E>),
            stats_desc: E::STATS.as_ptr().cast(),
            nr_stats: E::STATS.len() as u32,
        };
        let ops = KBox::pin(Opaque::new(ops), GFP_KERNEL)?;
        // Published before registering; KVM's registration lock orders it
        // before any trampoline can run.
        INSTANCE.store(
            core::ptr::from_ref(&*ext).cast_mut().cast(),
            Ordering::Release,
        );
        // SAFETY: `ops` is pinned and outlives the registration, which
        // `Drop` ends before freeing it.
        to_result(unsafe { bindings::kvm_x86_ext_register(ops.get()) })?;
        Ok(Self { ops, _ext: ext })
    }
}

impl<E: Extension> Drop for Registration<E> {
    fn drop(&mut self) {
        // SAFETY: `ops` was registered by `new`. Module unload is the only
        // way here, and KVM holds a module reference for every attached VM
        // and every call in flight, so none is left.
        unsafe { bindings::kvm_x86_ext_unregister(self.ops.get()) };
    }
}

/// The registered extension.
fn ext<E: Extension>() -> &'static E {
    // SAFETY: trampolines only run while the table is registered, when
    // `INSTANCE` points to the `E` that the `Registration` owns and frees
    // only after unregistering (its invariant).
    unsafe { &*INSTANCE.load(Ordering::Acquire).cast::<E>() }
}

/// The data of an attached VM.
///
/// # Safety
///
/// `kvm` is attached to this module's extension `E`.
unsafe fn vm_data<'a, E: Extension>(kvm: *mut bindings::kvm) -> &'a E::VmData {
    // SAFETY: attached VMs carry the `KBox<E::VmData>` that
    // `enable_cap::<E>` leaked, freed only by `vm_destroy::<E>`.
    unsafe { &*bindings::kvm_x86_ext_vm_priv(kvm).cast::<E::VmData>() }
}

/// The data of a vCPU of an attached VM.
///
/// # Safety
///
/// `vcpu` belongs to a VM attached to `E` and was created.
unsafe fn vcpu_data<'a, E: Extension>(vcpu: *mut bindings::kvm_vcpu) -> &'a E::VcpuData {
    // SAFETY: such vCPUs carry the `KBox<E::VcpuData>` that
    // `vcpu_create::<E>` leaked, freed only by `vcpu_destroy::<E>`.
    unsafe { &*bindings::kvm_x86_ext_vcpu_priv(vcpu).cast::<E::VcpuData>() }
}

extern "C" fn check_extension<E: Extension>(kvm: *mut bindings::kvm, ext_nr: c_long) -> c_int {
    // SAFETY: KVM passes NULL or a live VM.
    let vm = (!kvm.is_null()).then(|| unsafe { Vm::from_raw(kvm) });
    ext::<E>().check_extension(vm, ext_nr)
}

extern "C" fn enable_cap<E: Extension>(
    kvm: *mut bindings::kvm,
    cap: *mut bindings::kvm_enable_cap,
) -> c_int {
    // SAFETY: KVM passes a live VM and the ioctl's copied argument.
    let (vm, cap) = unsafe { (Vm::from_raw(kvm), &*cap) };
    let req = EnableCap {
        cap: cap.cap,
        flags: cap.flags,
        args: [cap.args[0], cap.args[1], cap.args[2], cap.args[3]],
    };
    attach::<E>(vm, ext::<E>().enable_cap(vm, &req))
}

extern "C" fn vm_init<E: Extension>(kvm: *mut bindings::kvm) -> c_int {
    // SAFETY: KVM passes a VM it has just set up.
    let vm = unsafe { Vm::from_raw(kvm) };
    attach::<E>(vm, ext::<E>().vm_init(vm))
}

/// Attaches `vm` with the data an `enable_cap` or `vm_init` returned.
fn attach<E: Extension>(vm: &Vm, data: Result<Option<KBox<E::VmData>>>) -> c_int {
    let (data, owns_msrs) = match data {
        Ok(Some(data)) => {
            let owns_msrs = ext::<E>().owns_msrs(&data);
            (KBox::into_raw(data), owns_msrs)
        }
        Ok(None) => return 0,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: `vm` is live; `data` stays valid until `vm_destroy::<E>`
    // frees it.
    let ret = unsafe { bindings::kvm_x86_ext_attach_vm(vm.as_raw(), data.cast(), owns_msrs) };
    if ret != 0 {
        // SAFETY: attaching failed, so KVM did not keep `data`.
        drop(unsafe { KBox::from_raw(data) });
    }
    ret
}

extern "C" fn mediated_pmu<E: Extension>(kvm: *mut bindings::kvm) -> bool {
    // SAFETY: KVM passes a live VM, under its lock.
    let vm = unsafe { Vm::from_raw(kvm) };
    // SAFETY: `vm` is live.
    let attached = !unsafe { bindings::kvm_x86_ext_vm_priv(kvm) }.is_null();
    // SAFETY: attached, see above.
    let data = attached.then(|| unsafe { vm_data::<E>(kvm) });
    ext::<E>().mediated_pmu(vm, data)
}

extern "C" fn vcpu_ioctl<E: Extension>(
    vcpu: *mut bindings::kvm_vcpu,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: KVM passes a live vCPU, with its mutex held.
    let v = unsafe { Vcpu::from_raw(vcpu) };
    // The VM is attached iff it has extension data; then every vCPU,
    // created after attaching, has data too.
    // SAFETY: `v.vm()` is live.
    let attached = !unsafe { bindings::kvm_x86_ext_vm_priv(v.vm().as_raw()) }.is_null();
    // SAFETY: attached, see above.
    let data = attached.then(|| unsafe { vcpu_data::<E>(vcpu) });
    // SAFETY: a vCPU ioctl, under the vCPU's mutex.
    let mut cx = unsafe { VcpuCtx::new(v) };
    match ext::<E>().vcpu_ioctl(&mut cx, data, cmd, arg) {
        Ok(r) => r as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

extern "C" fn vm_destroy<E: Extension>(kvm: *mut bindings::kvm) {
    // SAFETY: called once for an attached VM after its last vCPU is gone:
    // the data `enable_cap::<E>` leaked has no other user left.
    drop(unsafe { KBox::from_raw(bindings::kvm_x86_ext_vm_priv(kvm).cast::<E::VmData>()) });
}

extern "C" fn vcpu_create<E: Extension>(vcpu: *mut bindings::kvm_vcpu) -> c_int {
    // SAFETY: called for a new vCPU of an attached VM.
    let v = unsafe { Vcpu::from_raw(vcpu) };
    // SAFETY: its VM is attached.
    let vm = unsafe { vm_data::<E>(v.vm().as_raw()) };
    match ext::<E>().vcpu_create(vm, v) {
        Ok(data) => {
            // SAFETY: `vcpu` is live; freed by `vcpu_destroy::<E>`.
            unsafe { bindings::kvm_x86_ext_set_vcpu_priv(vcpu, KBox::into_raw(data).cast()) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

extern "C" fn vcpu_destroy<E: Extension>(vcpu: *mut bindings::kvm_vcpu) {
    // SAFETY: called once for a created vCPU of an attached VM, after its
    // last other callback.
    let data = unsafe { bindings::kvm_x86_ext_vcpu_priv(vcpu) };
    // SAFETY: as above; `data` came from `vcpu_create::<E>`.
    drop(unsafe { KBox::from_raw(data.cast::<E::VcpuData>()) });
    // SAFETY: `vcpu` is still live.
    unsafe { bindings::kvm_x86_ext_set_vcpu_priv(vcpu, core::ptr::null_mut()) };
}

/// Defines trampolines of per-vCPU callbacks that take no argument.
macro_rules! vcpu_trampolines {
    ($($name:ident),* $(,)?) => {$(
        extern "C" fn $name<E: Extension>(vcpu: *mut bindings::kvm_vcpu) {
            // SAFETY: KVM calls per-VM callbacks only for created vCPUs of
            // attached VMs.
            let (v, data) = unsafe { (Vcpu::from_raw(vcpu), vcpu_data::<E>(vcpu)) };
            // SAFETY: one of the vCPU's callbacks.
            ext::<E>().$name(&mut unsafe { VcpuCtx::new(v) }, data)
        }
    )*};
}
vcpu_trampolines!(
    vcpu_put,
    run_exit,
    guest_enter,
    guest_exit,
    block_begin,
    block_end,
    recalc_msr_intercepts
);

extern "C" fn pmu_loaded<E: Extension>(vcpu: *mut bindings::kvm_vcpu) {
    // SAFETY: KVM calls it only for vCPUs whose PMU the extension made
    // lazy, which belong to attached VMs.
    let (v, data) = unsafe { (Vcpu::from_raw(vcpu), vcpu_data::<E>(vcpu)) };
    ext::<E>().pmu_loaded(v, data)
}

extern "C" fn pmu_put<E: Extension>(
    vcpu: *mut bindings::kvm_vcpu,
    why: bindings::kvm_x86_ext_pmu_put,
) {
    // SAFETY: as for `pmu_loaded`.
    let (v, data) = unsafe { (Vcpu::from_raw(vcpu), vcpu_data::<E>(vcpu)) };
    ext::<E>().pmu_put(v, data, pmu_put_reason(why))
}

extern "C" fn vcpu_load<E: Extension>(vcpu: *mut bindings::kvm_vcpu, cpu: c_int) {
    // SAFETY: a created vCPU of an attached VM.
    let (v, data) = unsafe { (Vcpu::from_raw(vcpu), vcpu_data::<E>(vcpu)) };
    // SAFETY: the vCPU's preempt notifier or `vcpu_load`.
    ext::<E>().vcpu_load(&mut unsafe { VcpuCtx::new(v) }, data, cpu)
}

extern "C" fn run_enter<E: Extension>(vcpu: *mut bindings::kvm_vcpu) -> c_int {
    // SAFETY: a created vCPU of an attached VM.
    let (v, data) = unsafe { (Vcpu::from_raw(vcpu), vcpu_data::<E>(vcpu)) };
    // SAFETY: `KVM_RUN`, under the vCPU's mutex.
    match ext::<E>().run_enter(&mut unsafe { VcpuCtx::new(v) }, data) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

extern "C" fn supported_cpuid<E: Extension>(entry: *mut bindings::kvm_cpuid_entry2) {
    // SAFETY: KVM passes one entry of the array it is filling in.
    ext::<E>().supported_cpuid(unsafe { &mut *entry })
}

/// Runs one MSR callback of `E` and maps its outcome to KVM's return
/// value; `on_ok` takes a successful result.
///
/// # Safety
///
/// `vcpu` is a created vCPU of an attached VM.
unsafe fn msr_callback<E: Extension, T>(
    vcpu: *mut bindings::kvm_vcpu,
    access: MsrAccess,
    call: impl FnOnce(&E, &mut VcpuCtx<'_>, &E::VcpuData, &MsrAccess) -> Option<Result<T, MsrFault>>,
    on_ok: impl FnOnce(T),
) -> c_int {
    // SAFETY: guaranteed by the caller.
    let (v, d) = unsafe { (Vcpu::from_raw(vcpu), vcpu_data::<E>(vcpu)) };
    // SAFETY: an MSR access of the vCPU, under its mutex.
    match call(ext::<E>(), &mut unsafe { VcpuCtx::new(v) }, d, &access) {
        None => bindings::KVM_X86_EXT_MSR_UNHANDLED as c_int,
        Some(Err(MsrFault)) => 1,
        Some(Ok(value)) => {
            on_ok(value);
            0
        }
    }
}

extern "C" fn get_msr<E: Extension>(
    vcpu: *mut bindings::kvm_vcpu,
    index: u32,
    data: *mut u64,
    host_initiated: bool,
) -> c_int {
    let access = MsrAccess {
        index,
        host_initiated,
    };
    // SAFETY: KVM passes a created vCPU of an attached VM, and in `data`
    // the `msr_data` field to fill in.
    unsafe {
        msr_callback::<E, _>(
            vcpu,
            access,
            |e, v, d, a| e.get_msr(v, d, a),
            |value| *data = value,
        )
    }
}

extern "C" fn set_msr<E: Extension>(
    vcpu: *mut bindings::kvm_vcpu,
    index: u32,
    data: u64,
    host_initiated: bool,
) -> c_int {
    let access = MsrAccess {
        index,
        host_initiated,
    };
    // SAFETY: KVM passes a created vCPU of an attached VM.
    unsafe { msr_callback::<E, _>(vcpu, access, |e, v, d, a| e.set_msr(v, d, a, data), |()| ()) }
}
