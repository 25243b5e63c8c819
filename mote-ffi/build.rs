//! `cfg(mote_resumption)` when the delegated-mote this build links has resumption: asked
//! for by this crate's `resumption` feature, or turned on by another crate of the same
//! build (cargo unifies features; motesim does in a workspace build). The storage size
//! (`MOTE_STORAGE_WORDS`), the name `mote_init` links to and the resumption functions all
//! follow it, so that the library never claims less storage than it uses.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(mote_resumption)");
    println!("cargo::rerun-if-env-changed=DEP_DELEGATED_MOTE_RESUMPTION");
    if std::env::var("DEP_DELEGATED_MOTE_RESUMPTION").as_deref() == Ok("1") {
        println!("cargo::rustc-cfg=mote_resumption");
    }
}
