// SPDX-License-Identifier: GPL-2.0

//! The per-vCPU exclusivity types (`rust/kvm/cell.rs`), compiled on the
//! host with stand-ins for the preemption guard and the vCPU: the uses the
//! module makes compile, and the aliasing and sharing they exist to
//! prevent do not, each with the error rustc must give. (The kernel runs
//! no compile-fail doctests for an out-of-tree module; this is the
//! equivalent.)

use std::path::PathBuf;
use std::process::Command;

/// A crate around the real `cell.rs`, plus `body` outside the `kvm`
/// module, as a user of it would be.
fn crate_source(body: &str) -> String {
    let cell = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rust/kvm/cell.rs");
    format!(
        r#"
#![allow(dead_code)]
mod kvm {{
    pub(crate) struct PreemptGuard(core::marker::PhantomData<*mut ()>);
    impl PreemptGuard {{
        pub(crate) fn new() -> Self {{ Self(core::marker::PhantomData) }}
    }}
    pub(crate) struct Vcpu;
    mod cell {{ include!({cell:?}); }}
    pub(crate) use cell::{{VcpuCell, VcpuCtx}};
    /// What the trampolines do: the one place a context is made.
    pub(crate) fn callback(vcpu: &Vcpu, f: impl FnOnce(&mut VcpuCtx<'_>)) {{
        // SAFETY: stand-in for a KVM callback of `vcpu`.
        f(&mut unsafe {{ VcpuCtx::new(vcpu) }})
    }}
}}
use kvm::*;
{body}
fn main() {{}}
"#
    )
}

/// Compiles `body`; `Ok` or the compiler's diagnostics.
fn compile(name: &str, body: &str) -> Result<(), String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vcpu_cell");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("{name}.rs"));
    std::fs::write(&src, crate_source(body)).unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .args(["--edition=2021", "--crate-type=bin", "--emit=metadata"])
        .arg("--out-dir")
        .arg(&dir)
        .arg(&src)
        .output()
        .expect("run rustc");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `body` must not compile, for one of the reasons `codes` name.
fn must_fail(name: &str, body: &str, codes: &[&str]) {
    match compile(name, body) {
        Ok(()) => panic!("{name}: compiled, but must not"),
        Err(e) => assert!(
            codes.iter().any(|c| e.contains(&format!("error[{c}]"))),
            "{name}: expected one of {codes:?}, got:\n{e}"
        ),
    }
}

#[test]
fn the_module_s_uses_compile() {
    // Positive control: without it, every failure below could be a typo.
    compile(
        "ok",
        r#"
struct VcpuData { state: VcpuCell<u64> }
fn hook(cx: &mut VcpuCtx<'_>, data: &VcpuData) -> u64 {
    data.state.with(cx, |s, _preempt| { *s += 1; *s })
}
fn twice(vcpu: &Vcpu, data: &VcpuData) {
    callback(vcpu, |cx| { hook(cx, data); hook(cx, data); });
}
fn data_is_send() { fn send<T: Send>() {} send::<VcpuData>(); }
"#,
    )
    .unwrap();
}

#[test]
fn nested_with_on_one_cell_does_not_compile() {
    // The hole of the old API: two `&mut` to one state.
    must_fail(
        "nested",
        r#"
fn alias(cx: &mut VcpuCtx<'_>, cell: &VcpuCell<u64>) {
    cell.with(cx, |a, _| cell.with(cx, |b, _| { *a += 1; *b += 1; }));
}
"#,
        // The context is borrowed twice: by the outer call, and by the
        // closure that would use it again.
        &["E0499", "E0500", "E0501"],
    );
}

#[test]
fn a_cell_cannot_be_shared_across_vcpus() {
    // Per-VM data must be `Sync`: a cell in it is refused.
    must_fail(
        "sync",
        r#"
struct VmData { shared: VcpuCell<u64> }
fn check() { fn sync<T: Sync>() {} sync::<VmData>(); }
"#,
        &["E0277"],
    );
}

#[test]
fn a_context_cannot_be_made_or_sent() {
    must_fail(
        "make",
        r#"
fn forge(vcpu: &Vcpu) -> u32 { let _cx = unsafe { VcpuCtx::new(vcpu) }; 0 }
"#,
        &["E0624"],
    );
    must_fail(
        "send",
        r#"
fn check() { fn send<T: Send>() {} send::<VcpuCtx<'static>>(); }
"#,
        &["E0277"],
    );
}
