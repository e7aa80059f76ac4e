//! `kensa generate man|completions --out DIR`: man pages (one for kensa,
//! one per command) and bash/zsh/fish completions, generated from the
//! clap definition in `cli`, so they can never drift from `--help`. The
//! .deb ships the copies kept in `packaging/`; a test checks those copies
//! are what this command writes now.

use crate::cli::{Cli, GenerateArgs, Generated};
use crate::engine::pathfmt;
use anyhow::Context as _;
use clap::CommandFactory;
use std::path::Path;

pub fn run(args: &GenerateArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", pathfmt::show(&args.out)))?;
    let written = match args.what {
        Generated::Man => man_pages(&args.out)?,
        Generated::Completions => completions(&args.out)?,
    };
    for name in written {
        println!("{}", pathfmt::show(&args.out.join(name)));
    }
    Ok(0)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    crate::fsutil::write_atomic(&path, bytes, 0o644)
        .with_context(|| format!("writing {}", pathfmt::show(&path)))
}

/// `kensa.1` and `kensa-COMMAND.1` for every command (nested commands such
/// as `rules check` become `kensa-rules-check.1`).
fn man_pages(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut root = Cli::command();
    root.build();
    let mut out = Vec::new();
    let mut todo = vec![("kensa".to_string(), root)];
    while let Some((name, cmd)) = todo.pop() {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone().name(name.clone()))
            .render(&mut page)
            .context("rendering a man page")?;
        let file = format!("{name}.1");
        write(dir, &file, &page)?;
        out.push(file);
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            todo.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
    }
    out.sort();
    Ok(out)
}

fn completions(dir: &Path) -> anyhow::Result<Vec<String>> {
    use clap_complete::Shell;
    let mut out = Vec::new();
    for (shell, file) in [
        (Shell::Bash, "kensa"),
        (Shell::Zsh, "_kensa"),
        (Shell::Fish, "kensa.fish"),
    ] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "kensa", &mut script);
        write(dir, file, &script)?;
        out.push(file.to_string());
    }
    Ok(out)
}
