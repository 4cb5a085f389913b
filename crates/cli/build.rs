//! Link flags of the `orderflow` binary.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The binary is position-independent (address randomisation), so the dynamic loader
    // applies about 60,000 relative relocations at each start; in the classic format they
    // are 1.5 MB the loader reads, and keeps resident, on every exec. The packed format
    // (DT_RELR) holds the same in a few kilobytes, but only glibc 2.36 and later (Debian 12
    // and the distroless image) can load it: a binary packed on a newer system would not
    // start on an older one. So it is packed only for the glibc it is built on.
    if targets_this_glibc() && glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Built on Linux with glibc, for that same system (not cross-compiled).
fn targets_this_glibc() -> bool {
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    target_os == "linux" && target_env == "gnu" && env::var("HOST").ok() == env::var("TARGET").ok()
}

/// The build system's glibc, as `getconf` names it ("glibc 2.36"); false when unknown.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(output) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let mut numbers = text
        .trim()
        .strip_prefix("glibc ")
        .unwrap_or_default()
        .split('.')
        .map(|part| part.parse::<u32>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(found_major), Some(found_minor)) => (found_major, found_minor) >= (major, minor),
        _ => false,
    }
}
