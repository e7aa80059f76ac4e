//! Man pages and shell completions (issue 12.11) are generated from the
//! CLI definition; the copies the .deb ships (packaging/man,
//! packaging/completions) must be exactly what the binary generates now,
//! and the bash completion must complete kensa's commands and options.

use crate::support::{repo, TestEnv};
use std::path::Path;
use std::process::Command;

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn shipped_man_pages_and_completions_are_what_the_cli_generates() {
    let env = TestEnv::new();
    for (what, dir) in [
        ("man", "packaging/man"),
        ("completions", "packaging/completions"),
    ] {
        let out_dir = env.base().join(what);
        let out = env.run([
            "generate".as_ref(),
            what.as_ref(),
            "--out".as_ref(),
            out_dir.as_os_str(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let fresh = files(&out_dir);
        let shipped = files(&repo().join(dir));
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&shipped),
            names(&fresh),
            "{dir} is stale: run `kensa generate {what} --out {dir}`"
        );
        for (a, b) in shipped.iter().zip(&fresh) {
            assert!(
                a.1 == b.1,
                "{dir}/{} is stale: run `kensa generate {what} --out {dir}`",
                a.0
            );
        }
    }
    let man = std::fs::read_to_string(repo().join("packaging/man/kensa-scan.1")).unwrap();
    assert!(
        man.contains(".TH kensa-scan 1") && man.contains("max\\-file\\-size"),
        "{man}"
    );
}

#[test]
fn man_page_renders_and_bash_completes_commands_and_options() {
    let page = repo().join("packaging/man/kensa.1");
    let out = Command::new("man")
        .args(["-l", "-P", "cat"])
        .arg(&page)
        .env("MANWIDTH", "80")
        .output()
        .expect("man (man-db) is needed to render the man page");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("SUBCOMMANDS") || text.contains("kensa-scan"),
        "{text}"
    );

    let script = repo().join("packaging/completions/kensa");
    let complete = |words: &str| {
        let cmd = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; _kensa kensa; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = Command::new("bash").args(["-c", &cmd]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let cmds = complete("kensa ta");
    assert!(cmds.lines().any(|l| l == "taxonomy"), "{cmds}");
    let opts = complete("kensa scan --max-f");
    assert!(opts.lines().any(|l| l == "--max-file-size"), "{opts}");
}
