//! The AzureGuest request body (`POST /attest/AzureGuest`): the outer JSON,
//! the base64url `AttestationInfo` document, and every field decoded into
//! evidence. Evidence that decodes must survive being written back into a
//! request body and parsed again unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_maa::azureguest::{build_request_body, AttestationInfo};
use tee_attest_maa::parse_request_body;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = AttestationInfo::from_request_body(data) else {
        return;
    };
    let Ok((evidence, os)) = info.to_evidence() else {
        return;
    };
    let body = build_request_body(&evidence, &os).expect("decoded evidence re-encodes");
    let (again, os_again) = parse_request_body(body.as_bytes()).expect("re-encoded body parses");
    assert_eq!(again, evidence, "the evidence changed in a round trip");
    assert_eq!(os_again, os, "the OS information changed in a round trip");
});
