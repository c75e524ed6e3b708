//! The sealed AzureGuest response (`{"token": BASE64URL(envelope)}`): the
//! JSON, the envelope, its parameters, and the AES-GCM opening after the
//! inner key's decryption (by the stand-in for the vTPM, see
//! `StandInDecryptor`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_fuzz::{block_on, StandInDecryptor};
use tee_attest_maa::seal::response_token;
use tee_attest_maa::{unseal_envelope, unseal_token};

fuzz_target!(|data: &[u8]| {
    let _ = response_token(data);
    let _ = block_on(unseal_token(data, &StandInDecryptor));
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = block_on(unseal_envelope(s, &StandInDecryptor));
    }
});
