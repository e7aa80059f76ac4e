//! kensa's Debian package as the tests build it: `cargo deb` over the
//! release binary under test (`--no-build`: nothing is compiled again,
//! `--no-strip`, `--fast` compression), cargo-deb installed from crates.io
//! when missing.

use super::run_ok;
use std::path::{Path, PathBuf};
use std::process::Command;

fn have_cargo_deb() -> bool {
    Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Builds the package into `out_dir` and returns its path.
pub fn build(out_dir: &Path) -> PathBuf {
    if !have_cargo_deb() {
        run_ok(Command::new("cargo").args(["install", "cargo-deb", "--locked"]));
    }
    assert!(
        Path::new(super::kensa_bin()).exists(),
        "the release binary the package carries"
    );
    std::fs::create_dir_all(out_dir).unwrap();
    run_ok(
        Command::new("cargo")
            .current_dir(super::repo())
            .args(["deb", "--no-build", "--no-strip", "--fast", "--output"])
            .arg(out_dir),
    );
    std::fs::read_dir(out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("cargo deb wrote a .deb")
}
