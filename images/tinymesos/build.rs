//! Fixes the release a build *is* at compile time: env `TINYMESOS_RELEASE`
//! (default: the newest release), checked against the releases this crate
//! knows. `prepare.sh` builds once per release.

const KNOWN: &[&str] = &["0.22", "0.23", "0.24", "0.25", "0.28", "1.0"];

fn main() {
    println!("cargo:rerun-if-env-changed=TINYMESOS_RELEASE");
    let release = std::env::var("TINYMESOS_RELEASE").unwrap_or_else(|_| "1.0".to_string());
    if !KNOWN.contains(&release.as_str()) {
        panic!("TINYMESOS_RELEASE={release:?} is not one of {KNOWN:?}");
    }
    println!("cargo:rustc-env=TINYMESOS_RELEASE={release}");
}
