//! Link flags of the `orderflow` binary.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // The binary is position-independent (address randomisation), so the dynamic loader
    // applies about 60,000 relative relocations at each start; in the classic format they
    // are 1.5 MB the loader reads, and keeps resident, on every exec. The packed format
    // (DT_RELR, glibc 2.36 and later: Debian 12 and the distroless image) holds the same in
    // a few kilobytes.
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
