// SPDX-License-Identifier: GPL-2.0

//! `rust/shim.rs` declares the C shim's functions by hand: check every
//! declaration against `shim/vcounters_shim.h`, name, parameters and
//! return type, so the two cannot drift apart.

use std::collections::BTreeMap;

/// A C or Rust type, spelled the one way both map to.
fn canonical(ty: &str) -> String {
    let ty = ty.trim();
    match ty {
        "" | "void" | "()" => "void".into(),
        "bool" => "bool".into(),
        "u32" => "u32".into(),
        "u64" => "u64".into(),
        "u64 *" | "*mut u64" => "*u64".into(),
        "u32 *" | "*mut u32" => "*u32".into(),
        "struct kvm *" | "*mut kvm" => "*kvm".into(),
        "struct kvm_vcpu *" | "*mut kvm_vcpu" => "*kvm_vcpu".into(),
        other => panic!("type {other:?}: teach this test how C and Rust spell it"),
    }
}

/// `name -> (parameter types, return type)` of the C prototypes.
fn c_prototypes(text: &str) -> BTreeMap<String, (Vec<String>, String)> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(open) = line.find('(') else { continue };
        if !line.ends_with(");") || line.starts_with('#') || line.starts_with('*') {
            continue;
        }
        let head = &line[..open];
        let split = head.rfind([' ', '*']).expect("return type");
        let (ret, name) = (&head[..=split], &head[split + 1..]);
        let params = &line[open + 1..line.len() - 2];
        let params = if params == "void" {
            vec![]
        } else {
            params
                .split(',')
                .map(|p| {
                    let p = p.trim();
                    let cut = p.rfind([' ', '*']).expect("parameter name");
                    canonical(&p[..=cut])
                })
                .collect()
        };
        out.insert(name.to_string(), (params, canonical(ret)));
    }
    out
}

/// The same for the `extern "C"` block of `rust/shim.rs`.
fn rust_declarations(text: &str) -> BTreeMap<String, (Vec<String>, String)> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("pub(crate) fn ") else {
            continue;
        };
        let open = rest.find('(').unwrap();
        let close = rest.rfind(')').unwrap();
        let name = &rest[..open];
        let params = rest[open + 1..close]
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| canonical(p.split_once(':').expect("parameter type").1))
            .collect();
        let ret = rest[close + 1..].trim().trim_end_matches(';');
        let ret = ret.strip_prefix("->").unwrap_or("");
        out.insert(name.to_string(), (params, canonical(ret)));
    }
    out
}

#[test]
fn rust_declarations_match_the_c_header() {
    let root = env!("CARGO_MANIFEST_DIR");
    let header = std::fs::read_to_string(format!("{root}/shim/vcounters_shim.h")).unwrap();
    let rust = std::fs::read_to_string(format!("{root}/rust/shim.rs")).unwrap();
    let c = c_prototypes(&header);
    let r = rust_declarations(&rust);
    assert!(c.len() >= 8, "parsed only {c:?}");
    assert_eq!(r, c);
}
