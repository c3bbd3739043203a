// SPDX-License-Identifier: GPL-2.0

//! KVM x86 virtual counters: per-VM guest-owned APERF/MPERF and PMU.
//!
//! The module root only wires the parts together:
//! - [`logic`]: counter arithmetic, argument checks and mode choice, in
//!   plain Rust shared with the host `cargo test` build;
//! - [`vendor`]: one backend per virtualization extension (VMX, SVM),
//!   chosen once at init;
//! - [`host`]: what the host CPU offers, read once at init through the C
//!   shim (`shim/vcounters_shim.c`);
//! - [`kvm`]: safe Rust over KVM's extension interface (the hook series in
//!   `patches/`);
//! - [`counters`]: the extension: capability, opt-in, per-vCPU state.

mod counters;
mod host;
mod kvm;
// Also built as a host crate (`cargo test`), whose public API its `pub`
// items are.
#[allow(unreachable_pub)]
mod logic;
mod vendor;

#[cfg(CONFIG_KUNIT)]
mod kunit_tests;

use counters::Counters;
use kernel::prelude::*;

module! {
    type: VCounters,
    name: "kvm_vcounters",
    authors: ["The kvm-vcounters developers"],
    description: "KVM x86 per-VM virtual APERF/MPERF and PMU counters",
    license: "GPL",
}

struct VCounters {
    _registration: kvm::Registration<Counters>,
}

impl kernel::Module for VCounters {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let Some(vendor) = vendor::detect() else {
            pr_err!("no VMX or SVM on this CPU\n");
            return Err(ENODEV);
        };
        let caps = host::probe(vendor);
        pr_info!(
            "{} backend, host APERFMPERF {}, features {:#x}, modes {}\n",
            vendor.name(),
            match (host::has_aperfmperf(), caps.aperfmperf) {
                (true, true) => "yes",
                (true, false) => "read-only (writes dropped or faulting)",
                (false, _) => "no",
            },
            caps.supported_features().bits(),
            host::ModeList(&caps),
        );
        Ok(VCounters {
            _registration: kvm::Registration::new(module, Counters::new(caps))?,
        })
    }
}
