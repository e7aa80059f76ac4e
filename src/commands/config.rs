//! `kensa config default|check`: print the commented default configuration,
//! or check the configured file: `ok: FILE`, the effective configuration
//! as TOML (`--effective`), or every problem in the file (exit 2).

use super::Context;
use crate::cli::ConfigCommand;
use crate::config::{Config, DEFAULT_CONFIG_TEXT};
use crate::engine::pathfmt;
use crate::output::sanitize;

pub fn run(ctx: &Context, cmd: &ConfigCommand) -> anyhow::Result<u8> {
    match cmd {
        ConfigCommand::Default => {
            crate::output::print_all(DEFAULT_CONFIG_TEXT)?;
            Ok(0)
        }
        ConfigCommand::Check(args) => {
            // Loaded again as required, so a missing file is reported here
            // (the load before dispatch let `config` commands through).
            let c = match Config::load(&ctx.config_path, true) {
                Ok(c) => c,
                Err(e) => {
                    let lines = e.lines();
                    for line in &lines {
                        eprintln!("{}", sanitize(line));
                    }
                    let what = match lines.len() {
                        1 => "1 problem".to_string(),
                        n => format!("{n} problems"),
                    };
                    eprintln!("kensa: error: {}: {what}", pathfmt::show(&ctx.config_path));
                    return Ok(2);
                }
            };
            let file = pathfmt::show(&ctx.config_path);
            if args.effective {
                let text = c.to_toml()?;
                crate::output::print_all(&format!(
                    "# ok: {file}\n# The effective configuration: this file over the defaults.\n\n{text}"
                ))?;
            } else {
                crate::output::print_all(&format!("ok: {file}\n"))?;
            }
            Ok(0)
        }
    }
}
