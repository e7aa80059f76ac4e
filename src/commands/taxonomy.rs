//! `kensa taxonomy`: lists the NISC event and cause codes that `triage`
//! accepts, with their groups and Japanese and English labels, from the
//! one table in `findings::taxonomy`.

use crate::cli::TaxonomyArgs;
use crate::output::Format;

pub fn run(args: &TaxonomyArgs) -> anyhow::Result<u8> {
    let text = match args.format {
        Format::Text => crate::output::taxonomy::text(),
        Format::Json => crate::output::taxonomy::json()?,
    };
    crate::output::print_all(&text)?;
    Ok(0)
}
