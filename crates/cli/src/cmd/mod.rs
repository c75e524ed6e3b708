//! One module per group of subcommands.

pub mod demo;
pub mod detect;
pub mod evidence;
pub mod policy;
