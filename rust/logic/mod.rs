// SPDX-License-Identifier: GPL-2.0

//! Counter logic with no kernel dependency.
//!
//! Everything here is plain `core` Rust: no `unsafe`, no kernel types, no
//! allocation. The kernel module drives it from the KVM hooks; the host
//! build (`cargo test` at the repository root) and the module's KUnit
//! suite drive it with simulated inputs. Kernel-facing code converts the
//! results (errors to errno values, modes to uapi numbers) at the edge.

pub mod aperfmperf;
pub mod cap;
pub mod live;
pub mod pmu;
// The PMU's registers have no user in the module before the PMU feature;
// the KUnit suite checks them against the kernel's.
#[allow(dead_code)]
pub mod regs;
pub mod switch;
pub mod uapi;
