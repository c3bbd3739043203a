// SPDX-License-Identifier: GPL-2.0

//! The module's per-vCPU binary stats: named and described here, appended
//! by KVM to its own in the stats fd of every vCPU of a VM that opted in
//! (`KVM_GET_STATS_FD`, QEMU's `query-stats`). A feature adds its stats by
//! adding variants and descriptors here, in the same order.

use crate::kvm::StatDesc;

/// One per-vCPU stat: its index in [`VCPU_STATS`].
#[derive(Clone, Copy)]
#[repr(u32)]
pub(crate) enum VcpuStat {
    /// Time the guest counter context was live.
    LiveNs,
    /// Time halted or blocked inside `KVM_RUN`.
    HaltedNs,
    /// The context became live or stopped being live.
    Switches,
    /// Host MSR accesses of APERF/MPERF switching in RUN mode.
    MsrAccessesRun,
    /// Host MSR accesses of APERF/MPERF switching in ENTRY mode.
    MsrAccessesEntry,
    /// Guest APERF/MPERF accesses that exited.
    MsrExits,
    /// Loads and puts of the guest's mediated PMU context, in any mode.
    PmuSwitches,
    /// RUN: loads at a VM-entry of a context kept across VM-exits.
    PmuLazyLoads,
    /// RUN: puts at `vcpu_put`.
    PmuPutsVcpu,
    /// RUN: puts for KVM's software accesses to the PMU state.
    PmuPutsSync,
    /// RUN: puts forced by host perf (its install or enable IPI).
    PmuPutsPreempt,
    /// RUN: puts at VM-exits while host events want the CPU's PMU.
    PmuPutsExit,
    /// RUN: time loaded across VM-exits (the `KVM_RUN` boundary).
    PmuRunBoundaryNs,
    /// RUN: time loaded from a VM-entry to its VM-exit, while host events
    /// held the CPU (the entry boundary).
    PmuEntryBoundaryNs,
}

impl From<VcpuStat> for u32 {
    fn from(stat: VcpuStat) -> u32 {
        stat as u32
    }
}

/// The descriptors of [`VcpuStat`], indexed by it.
pub(crate) const VCPU_STATS: [StatDesc; 14] = {
    let stats = [
        (VcpuStat::LiveNs, StatDesc::time_ns(c"vcounters_live_ns")),
        (
            VcpuStat::HaltedNs,
            StatDesc::time_ns(c"vcounters_halted_ns"),
        ),
        (VcpuStat::Switches, StatDesc::counter(c"vcounters_switches")),
        (
            VcpuStat::MsrAccessesRun,
            StatDesc::counter(c"vcounters_msr_accesses_run"),
        ),
        (
            VcpuStat::MsrAccessesEntry,
            StatDesc::counter(c"vcounters_msr_accesses_entry"),
        ),
        (
            VcpuStat::MsrExits,
            StatDesc::counter(c"vcounters_msr_exits"),
        ),
        (
            VcpuStat::PmuSwitches,
            StatDesc::counter(c"vcounters_pmu_switches"),
        ),
        (
            VcpuStat::PmuLazyLoads,
            StatDesc::counter(c"vcounters_pmu_lazy_loads"),
        ),
        (
            VcpuStat::PmuPutsVcpu,
            StatDesc::counter(c"vcounters_pmu_puts_vcpu"),
        ),
        (
            VcpuStat::PmuPutsSync,
            StatDesc::counter(c"vcounters_pmu_puts_sync"),
        ),
        (
            VcpuStat::PmuPutsPreempt,
            StatDesc::counter(c"vcounters_pmu_puts_preempt"),
        ),
        (
            VcpuStat::PmuPutsExit,
            StatDesc::counter(c"vcounters_pmu_puts_exit"),
        ),
        (
            VcpuStat::PmuRunBoundaryNs,
            StatDesc::time_ns(c"vcounters_pmu_run_boundary_ns"),
        ),
        (
            VcpuStat::PmuEntryBoundaryNs,
            StatDesc::time_ns(c"vcounters_pmu_entry_boundary_ns"),
        ),
    ];
    let mut descs = [StatDesc::counter(c""); 14];
    let mut i = 0;
    while i < stats.len() {
        // Each variant describes itself, so the order cannot drift.
        descs[stats[i].0 as usize] = stats[i].1;
        i += 1;
    }
    descs
};
