//! One module per group of subcommands.

#[cfg(feature = "service")]
pub mod admin;
pub mod attest;
pub mod common;
#[cfg(feature = "mock")]
pub mod demo;
pub mod detect;
pub mod encrypt;
pub mod evidence;
#[cfg(feature = "service")]
pub mod keys;
#[cfg(feature = "mock")]
pub mod mock;
pub mod policy;
pub mod policy_remote;
#[cfg(feature = "service")]
pub mod serve;
pub mod token;
