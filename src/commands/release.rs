//! `kensa release DEVICE --by NAME --note TEXT`: asks the running agent's
//! device gate, over its control socket, to let a held device go; the
//! agent journals the override (who, note) and releases the device as if
//! it were clean.

use super::Context;
use crate::cli::ReleaseArgs;
use crate::gate::control;
use anyhow::Context as _;

pub fn run(ctx: &Context, args: &ReleaseArgs) -> anyhow::Result<u8> {
    if args.by.trim().is_empty() {
        anyhow::bail!("--by must name who releases the device");
    }
    let socket = control::socket_path(&ctx.state);
    let req = control::Request {
        release: args.device.clone(),
        by: args.by.clone(),
        note: args.note.clone(),
    };
    let reply = control::ask(&socket, &req).context("asking the agent to release the device")?;
    match (reply.ok, reply.error) {
        (_, Some(e)) => anyhow::bail!("the agent refused: {}", crate::output::sanitize(&e)),
        (Some(ok), None) => {
            crate::output::print_all(&format!("{}\n", crate::output::sanitize(&ok)))?;
            Ok(0)
        }
        (None, None) => anyhow::bail!("the agent gave no answer"),
    }
}
