//! Generates `include/wsengine.h` from `src/capi` with cbindgen.
//!
//! The header is written to `$OUT_DIR/include/wsengine.h` (and exported to
//! dependents as `DEP_WSENGINE_INCLUDE`), then copied over the committed
//! `include/wsengine.h` only if the bytes differ, so a clean tree stays
//! clean and the test command can fail on drift with `git diff`. Set
//! `WSENGINE_NO_HEADER_SYNC=1` to skip the copy (read-only sources).
//! The shared library gets a SONAME of `libwsengine.so.MAJOR.MINOR` while the
//! major version is 0 (every 0.x minor release may break the ABI).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/capi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=WSENGINE_NO_HEADER_SYNC");
    if std::env::var_os("CARGO_FEATURE_CAPI").is_none() {
        return;
    }
    let major = env("CARGO_PKG_VERSION_MAJOR");
    let minor = env("CARGO_PKG_VERSION_MINOR");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let soname = if major == "0" {
            format!("libwsengine.so.0.{minor}")
        } else {
            format!("libwsengine.so.{major}")
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }

    let dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env("OUT_DIR")).join("include");
    let generated = out.join("wsengine.h");
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("the C API in src/capi could not be turned into a header")
        .write_to_file(&generated);
    println!("cargo:include={}", out.display());

    if std::env::var_os("WSENGINE_NO_HEADER_SYNC").is_none() {
        let committed = dir.join("include").join("wsengine.h");
        let new = std::fs::read(&generated).expect("generated header");
        if std::fs::read(&committed).ok().as_deref() != Some(&new[..]) {
            // Registry sources can be read-only: a failed copy is not fatal.
            let _ = std::fs::create_dir_all(dir.join("include"));
            let _ = std::fs::write(&committed, &new);
        }
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"))
}
