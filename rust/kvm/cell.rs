// SPDX-License-Identifier: GPL-2.0

// Exclusive access to a vCPU's mutable state; see the `kvm` module
// documentation. No inner attributes or docs here: tests/vcpu_cell.rs
// include!s this file into a host crate, with stand-ins for the guard and
// the vCPU, to check that the aliasing these types exist to prevent does
// not compile.

use super::{PreemptGuard, Vcpu};
use core::{cell::UnsafeCell, marker::PhantomData};

/// A per-vCPU callback in progress: the vCPU, and the right to its
/// mutable state (see [`VcpuCell::with`]).
///
/// # Invariants
///
/// Created only by this module's trampolines, one per callback, in a
/// context where KVM runs no other callback of that vCPU except its
/// preempt notifiers (see the module documentation).
pub(crate) struct VcpuCtx<'a> {
    vcpu: &'a Vcpu,
    _not_send: PhantomData<*mut ()>,
}

impl<'a> VcpuCtx<'a> {
    /// # Safety
    ///
    /// Only from a per-vCPU callback of `vcpu`, once per call.
    pub(super) unsafe fn new(vcpu: &'a Vcpu) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            vcpu,
            _not_send: PhantomData,
        }
    }

    /// The vCPU this callback is for.
    pub(crate) fn vcpu(&self) -> &'a Vcpu {
        self.vcpu
    }
}

/// Mutable state of one vCPU, kept in its per-vCPU data.
pub(crate) struct VcpuCell<T>(UnsafeCell<T>);

impl<T> VcpuCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// Runs `f` on the state with preemption disabled; `f` gets the guard
    /// as proof, for per-CPU work.
    pub(crate) fn with<R>(
        &self,
        _cx: &mut VcpuCtx<'_>,
        f: impl FnOnce(&mut T, &PreemptGuard) -> R,
    ) -> R {
        let preempt = PreemptGuard::new();
        // The cell is reachable only through its own vCPU's data (it is
        // not `Sync`), whose callbacks each hold one `VcpuCtx`. The one
        // borrowed here cannot be used again until `f` returns, and no
        // preempt notifier, with a context of its own, runs while
        // preemption is off.
        // SAFETY: so this is the only reference to the state.
        let state = unsafe { &mut *self.0.get() };
        f(state, &preempt)
    }
}
