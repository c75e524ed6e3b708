//! `tee-attest policy …` (to be filled in).

use clap::Subcommand;
use tee_attest_core::Result;

/// The `policy` subcommands.
#[derive(Subcommand, Debug)]
pub enum PolicyCmd {}

/// Run a `policy` subcommand.
pub fn run(cmd: PolicyCmd) -> Result<()> {
    match cmd {}
}
