//! `kensa config default|check`: print the commented default configuration,
//! or check the configured file and show what kensa will use.

use super::Context;
use crate::cli::ConfigCommand;
use crate::config::{Config, DEFAULT_CONFIG_TEXT};
use crate::engine::pathfmt;

pub fn run(ctx: &Context, cmd: &ConfigCommand) -> anyhow::Result<u8> {
    match cmd {
        ConfigCommand::Default => {
            print!("{DEFAULT_CONFIG_TEXT}");
            Ok(0)
        }
        ConfigCommand::Check => {
            // Loading already happened (errors stop before this point);
            // load again as required so a missing file is reported here.
            let c = Config::load(&ctx.config_path, true)?;
            println!("{}: ok", pathfmt::show(&ctx.config_path));
            println!("{c:#?}");
            Ok(0)
        }
    }
}
