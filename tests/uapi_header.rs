// SPDX-License-Identifier: GPL-2.0

//! The uapi header and the typed constants of `rust/logic/uapi.rs` agree.

use std::collections::HashMap;
use vcounters_logic::uapi::{Features, Mode};

/// `#define NAME VALUE` lines with a plain numeric value, `(1ULL << n)`
/// forms included.
fn defines() -> HashMap<String, u64> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/include/uapi/linux/kvm_vcounters.h"
    );
    let text = std::fs::read_to_string(path).expect("uapi header");
    let mut map = HashMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if it.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(value)) = (it.next(), it.next()) else {
            continue;
        };
        let value = value.trim_start_matches('(');
        let parsed = if let Some(hex) = value.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).ok()
        } else if let Some(one) = value.strip_suffix("ULL") {
            let shift: u32 = it
                .nth(1)
                .and_then(|s| s.trim_end_matches(')').parse().ok())
                .unwrap();
            assert_eq!(one, "1", "{line}");
            Some(1u64 << shift)
        } else {
            value.parse().ok()
        };
        if let Some(v) = parsed {
            map.insert(name.to_string(), v);
        }
    }
    map
}

#[test]
fn constants_match_header() {
    let d = defines();
    assert_eq!(d["KVM_CAP_X86_VCOUNTERS"], 0x5643);
    assert_eq!(d["KVM_VCOUNTERS_APERFMPERF"], Features::APERFMPERF.bits());
    assert_eq!(d["KVM_VCOUNTERS_PMU"], Features::PMU.bits());
    for (name, mode) in [
        ("KVM_VCOUNTERS_MODE_AUTO", Mode::Auto),
        ("KVM_VCOUNTERS_MODE_RUN", Mode::Run),
        ("KVM_VCOUNTERS_MODE_ENTRY", Mode::Entry),
        ("KVM_VCOUNTERS_MODE_EMULATE", Mode::Emulate),
    ] {
        assert_eq!(d[name], mode as u64, "{name}");
    }
    // Every feature and mode the header defines is known here.
    let features = d
        .keys()
        .filter(|k| k.starts_with("KVM_VCOUNTERS_") && !k.contains("MODE") && !k.contains("GET_"))
        .count();
    assert_eq!(features, 2);
    assert_eq!(
        d.keys().filter(|k| k.contains("_MODE_")).count(),
        Mode::ALL.len()
    );
}

#[test]
fn qemu_series_imports_the_same_header() {
    // QEMU's linux-headers copy, as headers_install would make it: the
    // same text with the _UAPI prefix dropped from the guard.
    let top = env!("CARGO_MANIFEST_DIR");
    let ours = std::fs::read_to_string(format!("{top}/include/uapi/linux/kvm_vcounters.h"))
        .expect("uapi header")
        .replace("_UAPI_LINUX_KVM_VCOUNTERS_H", "_LINUX_KVM_VCOUNTERS_H");
    let patch = std::fs::read_dir(format!("{top}/qemu"))
        .expect("qemu/")
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.to_string_lossy()
                .ends_with("linux-headers-Add-kvm_vcounters.h.patch")
        })
        .expect("the QEMU patch importing the header");
    let text = std::fs::read_to_string(&patch).unwrap();
    let body = text
        .split("+++ b/linux-headers/linux/kvm_vcounters.h\n")
        .nth(1)
        .expect("the header's hunk");
    let imported: String = body
        .lines()
        .skip(1) // the @@ line
        .map_while(|l| l.strip_prefix('+'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(imported, ours, "{} is out of date", patch.display());
}
