//! `include/mote.h` is what cbindgen makes of the crate today; `MOTE_FFI_BLESS=1` rewrites
//! it after an API change.

use std::path::Path;

#[test]
fn header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen")
        .write(&mut generated);
    let path = dir.join("include/mote.h");
    if std::env::var_os("MOTE_FFI_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/mote.h is stale: run MOTE_FFI_BLESS=1 cargo test -p mote-ffi --test header"
    );
}
