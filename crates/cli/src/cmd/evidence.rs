//! `tee-attest evidence …` (to be filled in).

use clap::Subcommand;
use tee_attest_core::Result;

/// The `evidence` subcommands.
#[derive(Subcommand, Debug)]
pub enum EvidenceCmd {}

/// Run a `evidence` subcommand.
pub fn run(cmd: EvidenceCmd) -> Result<()> {
    match cmd {}
}
