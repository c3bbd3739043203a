// SPDX-License-Identifier: GPL-2.0

//! KVM x86 virtual counters: per-VM guest-owned APERF/MPERF and PMU.
//!
//! The module root only wires the parts together:
//! - [`logic`]: counter arithmetic, argument checks and mode choice, in
//!   plain Rust shared with the host `cargo test` build;
//! - [`kvm`]: safe Rust over KVM's extension interface (the hook series in
//!   `patches/`), and the per-vCPU state cell;
//! - [`extension`]: the capability, per-VM opt-in and per-vCPU state,
//!   calling each enabled [`feature`];
//! - [`aperfmperf`]: the APERF/MPERF feature, its host counters and its
//!   per-vendor half;
//! - [`pmu`]: the PMU feature, the per-VM choice of KVM's mediated vPMU;
//! - [`host`], [`vendor`]: what the host offers, probed once at init;
//! - [`stats`]: the per-vCPU binary stats the module describes to KVM;
//! - [`shim`]: the C half (`shim/vcounters_shim.c`).

mod aperfmperf;
mod extension;
mod feature;
mod host;
mod kvm;
// Also built as a host crate (`cargo test`), whose public API its `pub`
// items are.
#[allow(unreachable_pub)]
mod logic;
mod pmu;
mod shim;
mod stats;
mod vendor;

#[cfg(CONFIG_KUNIT)]
mod kunit_tests;

use extension::{cap_errno, Vcounters};
use kernel::prelude::*;
use vendor::Vendor;

module! {
    type: VcountersModule,
    name: "kvm_vcounters",
    authors: ["The kvm-vcounters developers"],
    description: "KVM x86 per-VM virtual APERF/MPERF and PMU counters",
    license: "GPL",
    params: {
        default_features: u64 {
            default: 0,
            description: "KVM_VCOUNTERS_* features every new VM opts in to, in AUTO mode (0: none)",
        },
    },
}

struct VcountersModule {
    _registration: kvm::Registration<Vcounters>,
}

impl kernel::Module for VcountersModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let Some(vendor) = Vendor::detect() else {
            pr_err!("no VMX or SVM on this CPU\n");
            return Err(ENODEV);
        };
        let switching = aperfmperf::bank::GuestSwitching::enable();
        let caps = host::probe(vendor, switching.as_ref());
        let defaults_mask = module_parameters::default_features.value();
        let defaults = logic::cap::default_config(defaults_mask, &caps).map_err(|e| {
            pr_err!(
                "default_features={:#x}: this host offers {:#x}\n",
                defaults_mask,
                caps.supported_features().bits()
            );
            cap_errno(e)
        })?;
        pr_info!(
            "{} backend, host APERFMPERF {}, features {:#x}, modes {}\n",
            vendor.kvm_module(),
            match (aperfmperf::bank::host_has_counters(), caps.aperfmperf) {
                (true, true) => "yes",
                (true, false) => "read-only (writes dropped or faulting)",
                (false, _) => "no",
            },
            caps.supported_features().bits(),
            host::ModeList(&caps),
        );
        let pmu = host::PmuStatus::probe(vendor, &caps);
        pr_info!("PMU: {}\n", pmu);
        if let Some(r) = pmu.disagreement() {
            // `Refusal` is the logic's, formatted by `core::fmt`.
            pr_warn!(
                "{}\n",
                format_args!("KVM mediates the PMU although this host has {r}")
            );
        }
        Ok(VcountersModule {
            _registration: kvm::Registration::new(
                module,
                Vcounters::new(caps, switching, defaults),
            )?,
        })
    }
}
