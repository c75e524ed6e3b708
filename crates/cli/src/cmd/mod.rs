//! One module per group of subcommands.

pub mod attest;
pub mod common;
pub mod demo;
pub mod detect;
pub mod encrypt;
pub mod evidence;
pub mod keys;
pub mod mock;
pub mod policy;
pub mod serve;
pub mod token;
