//! One module per group of subcommands.

pub mod admin;
pub mod attest;
pub mod common;
pub mod demo;
pub mod detect;
pub mod encrypt;
pub mod evidence;
pub mod keys;
pub mod mock;
pub mod policy;
pub mod policy_remote;
pub mod serve;
pub mod token;
