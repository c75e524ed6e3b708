//! One module per group of subcommands.

pub mod evidence;
pub mod policy;
