//! What a key-release client reads from the broker: the signed answer
//! (`KeyReleaseResponse`: compact JWS, payload shapes, `key_hsm`), its
//! signature check, the `key_hsm` document, and the unwrap (RSA block by
//! the stand-in for the vTPM, see `StandInDecryptor`, then AES-KWP); also
//! the `enc` names and the KEK text format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_fuzz::{block_on, jwks_json, StandInDecryptor};
use tee_attest_keyrelease::client::KeyReleaseResponse;
use tee_attest_keyrelease::wrap::aes_kwp_unwrap;
use tee_attest_keyrelease::{unwrap_key_hsm, Enc, Kek, KeyHsm};

fuzz_target!(|data: &[u8]| {
    if data.len() > 32 {
        let _ = aes_kwp_unwrap(&data[..32], &data[32..]);
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Enc::parse(s);
    let _ = Kek::parse(s);
    if let Ok(r) = KeyReleaseResponse::parse(s) {
        let _ = r.nonce();
        let _ = r.verify_signature(&jwks_json());
        let _ = block_on(tee_attest_keyrelease::client::unwrap_released_key(
            &r,
            &StandInDecryptor,
        ));
    }
    if let Ok(h) = KeyHsm::parse(s) {
        let _ = h.enc.name();
        let _ = block_on(unwrap_key_hsm(s, &StandInDecryptor));
    }
});
