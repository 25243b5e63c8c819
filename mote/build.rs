//! Tells the crates that link delegated-mote directly whether this build has the
//! `resumption` feature (`DEP_DELEGATED_MOTE_RESUMPTION` in their build scripts): cargo
//! unifies a dependency's features over one build, so a crate built together with another
//! that turns it on (mote-ffi with motesim) gets it without asking, and mote-ffi sizes its C
//! storage and exports its resumption API by what is compiled, not by what it asked for.
fn main() {
    let resumption = std::env::var_os("CARGO_FEATURE_RESUMPTION").is_some();
    println!("cargo::metadata=resumption={}", u8::from(resumption));
}
