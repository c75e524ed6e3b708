//! The AzureGuest, SevSnpVm and TdxVm wire formats.

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use tee_attest_core::{CodedError, EvidenceType, TeeId};
use tee_attest_maa::azureguest::AZURE_GUEST_TDX;
use tee_attest_maa::azureguest::{
    certs_to_pem, pem_certificates, AttestationInfo, RuntimeData, RuntimeDataType, SevSnpVmRequest,
    TdxVmRequest,
};
use tee_attest_maa::{build_request_body, parse_request_body, MaaError, OsInfo};

type Mutation = Box<dyn Fn(&mut Value)>;

fn os() -> OsInfo {
    OsInfo::new("Linux", "Ubuntu", 22, 4, "6.8.0-1014-azure")
}

fn decoded_info(body: &str) -> Value {
    let outer: Value = serde_json::from_str(body).unwrap();
    let obj = outer.as_object().unwrap();
    assert_eq!(obj.len(), 1, "the body holds AttestationInfo only");
    let text = obj["AttestationInfo"].as_str().unwrap();
    assert!(
        !text.contains('=') && !text.contains('+') && !text.contains('/'),
        "base64url without padding"
    );
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
}

fn std_decode(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap();
    STANDARD
        .decode(s)
        .unwrap_or_else(|_| panic!("{s:?} is padded standard base64"))
}

#[test]
fn request_has_microsofts_field_names_and_encodings() {
    let ev = sample_evidence();
    let body = build_request_body(&ev, &os()).unwrap();
    let info = decoded_info(&body);
    let mut keys: Vec<_> = info.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "AttestationProtocolVersion",
            "ClientPayload",
            "IsolationInfo",
            "OSBuild",
            "OSDistro",
            "OSType",
            "OSVersionMajor",
            "OSVersionMinor",
            "TcgLogs",
            "TpmInfo"
        ]
    );
    assert_eq!(info["AttestationProtocolVersion"], "2.0");
    assert_eq!(std_decode(&info["OSType"]), b"Linux");
    assert_eq!(std_decode(&info["OSDistro"]), b"Ubuntu");
    assert_eq!(std_decode(&info["OSBuild"]), b"6.8.0-1014-azure");
    assert_eq!(info["OSVersionMajor"], 22);
    assert_eq!(info["OSVersionMinor"], 4);
    assert_eq!(std_decode(&info["TcgLogs"]), ev.event_log.clone().unwrap());
    assert_eq!(std_decode(&info["ClientPayload"]["nonce"]), b"ADE0101");

    let tpm = &info["TpmInfo"];
    let mut tkeys: Vec<_> = tpm.as_object().unwrap().keys().cloned().collect();
    tkeys.sort();
    assert_eq!(
        tkeys,
        [
            "AikCert",
            "AikPub",
            "EncKeyCertifyInfo",
            "EncKeyCertifyInfoSignature",
            "EncKeyPub",
            "PCRs",
            "PcrQuote",
            "PcrSet",
            "PcrSignature"
        ]
    );
    let t = ev.tpm.as_ref().unwrap();
    assert_eq!(std_decode(&tpm["AikPub"]), t.ak_pub);
    assert_eq!(std_decode(&tpm["AikCert"]), t.ak_cert.clone().unwrap());
    assert_eq!(std_decode(&tpm["PcrQuote"]), t.quote);
    assert_eq!(std_decode(&tpm["PcrSignature"]), t.quote_signature);
    assert_eq!(std_decode(&tpm["EncKeyPub"]), t.enc_key_pub);
    assert_eq!(
        std_decode(&tpm["EncKeyCertifyInfo"]),
        t.enc_key_certify_info
    );
    assert_eq!(
        std_decode(&tpm["EncKeyCertifyInfoSignature"]),
        t.enc_key_certify_signature
    );
    assert_eq!(tpm["PcrSet"], json!([0, 1, 2, 3, 4, 5, 6, 7]));
    assert_eq!(tpm["PCRs"][3]["Index"], 3);
    assert_eq!(std_decode(&tpm["PCRs"][3]["Digest"]), vec![3u8; 32]);

    let iso = &info["IsolationInfo"];
    assert_eq!(iso["Type"], "SevSnp");
    assert_eq!(std_decode(&iso["Evidence"]["RunTimeData"]), ev.runtime_data);
    let proof: Value = serde_json::from_slice(&std_decode(&iso["Evidence"]["Proof"])).unwrap();
    let report = URL_SAFE_NO_PAD
        .decode(proof["SnpReport"].as_str().unwrap())
        .unwrap();
    assert_eq!(report, ev.hardware_report);
    let pem = String::from_utf8(std_decode(&proof["VcekCertChain"])).unwrap();
    assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 3);
    assert_eq!(pem_certificates(&pem).unwrap(), ev.certificates);
}

#[test]
fn request_round_trips_to_evidence_and_os_info() {
    let ev = sample_evidence();
    let body = build_request_body(&ev, &os()).unwrap();
    let (back, os_back) = parse_request_body(body.as_bytes()).unwrap();
    assert_eq!(back, ev);
    assert_eq!(os_back, os());
}

#[test]
fn empty_payload_is_null_as_microsoft_sends_it_and_parses_back() {
    let mut ev = sample_evidence();
    ev.client_payload.clear();
    ev.event_log = None;
    ev.tpm.as_mut().unwrap().ak_cert = None;
    let body = build_request_body(&ev, &os()).unwrap();
    let info = decoded_info(&body);
    assert_eq!(info["ClientPayload"], Value::Null);
    assert_eq!(info["TcgLogs"], "");
    let (back, _) = parse_request_body(body.as_bytes()).unwrap();
    assert_eq!(back, ev);
}

#[test]
fn accepts_the_python_clients_base64url_variant() {
    // Microsoft's Python client encodes Proof, RunTimeData and the chain as
    // base64url; a parser must take both.
    let ev = sample_evidence();
    let mut info = AttestationInfo::from_evidence(&ev, &os()).unwrap();
    let iso = info.isolation_info.evidence.as_mut().unwrap();
    let proof = json!({
        "SnpReport": URL_SAFE_NO_PAD.encode(&ev.hardware_report),
        "VcekCertChain": URL_SAFE_NO_PAD.encode(certs_to_pem(&ev.certificates)),
    });
    iso.proof = URL_SAFE_NO_PAD.encode(proof.to_string());
    iso.run_time_data = URL_SAFE_NO_PAD.encode(&ev.runtime_data);
    let (back, _) = info.to_evidence().unwrap();
    assert_eq!(back, ev);
}

#[test]
fn tdx_evidence_carries_the_quote_as_proof() {
    let mut ev = sample_evidence();
    ev.tee = TeeId::new("azure-tdx");
    ev.evidence_type = AZURE_GUEST_TDX;
    ev.certificates.clear();
    ev.hardware_report = vec![4; 5000];
    let body = build_request_body(&ev, &os()).unwrap();
    let info = decoded_info(&body);
    assert_eq!(info["IsolationInfo"]["Type"], "Tdx");
    assert_eq!(
        std_decode(&info["IsolationInfo"]["Evidence"]["Proof"]),
        ev.hardware_report
    );
    let (back, _) = parse_request_body(body.as_bytes()).unwrap();
    assert_eq!(back, ev);
}

fn code(e: MaaError) -> u32 {
    e.code().number()
}

#[test]
fn building_refuses_incomplete_evidence_with_typed_errors() {
    let mut ev = sample_evidence();
    ev.tpm = None;
    assert_eq!(code(build_request_body(&ev, &os()).unwrap_err()), 8);
    let mut ev = sample_evidence();
    ev.certificates.clear();
    assert_eq!(code(build_request_body(&ev, &os()).unwrap_err()), 17);
    let mut ev = sample_evidence();
    ev.hardware_report.clear();
    assert_eq!(code(build_request_body(&ev, &os()).unwrap_err()), 21);
    let mut ev = sample_evidence();
    ev.tee = TeeId::new("tdx");
    ev.evidence_type = EvidenceType::new("TdxVm", None);
    assert_eq!(code(build_request_body(&ev, &os()).unwrap_err()), 8);
}

fn body_with(info: &Value) -> Vec<u8> {
    json!({"AttestationInfo": URL_SAFE_NO_PAD.encode(info.to_string())})
        .to_string()
        .into_bytes()
}

#[test]
fn parsing_refuses_malformed_bodies_with_the_right_codes() {
    assert_eq!(code(parse_request_body(b"").unwrap_err()), 19);
    assert_eq!(code(parse_request_body(b"  \n").unwrap_err()), 19);
    assert_eq!(code(parse_request_body(b"{not json").unwrap_err()), 16);
    assert_eq!(code(parse_request_body(b"{}").unwrap_err()), 2);
    assert_eq!(
        code(parse_request_body(br#"{"AttestationInfo": 5}"#).unwrap_err()),
        2
    );
    assert_eq!(
        code(parse_request_body(br#"{"AttestationInfo": "!!!"}"#).unwrap_err()),
        2
    );
    let not_json = json!({"AttestationInfo": URL_SAFE_NO_PAD.encode("hello")}).to_string();
    assert_eq!(
        code(parse_request_body(not_json.as_bytes()).unwrap_err()),
        16
    );

    let good = decoded_info(&build_request_body(&sample_evidence(), &os()).unwrap());
    let cases: Vec<(&str, Mutation, u32, &str)> = vec![
        (
            "missing TpmInfo",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("TpmInfo");
            }),
            16,
            "TpmInfo",
        ),
        (
            "protocol 1.0",
            Box::new(|v| v["AttestationProtocolVersion"] = json!("1.0")),
            2,
            "AttestationProtocolVersion",
        ),
        (
            "bad AikPub",
            Box::new(|v| v["TpmInfo"]["AikPub"] = json!("%%%")),
            2,
            "TpmInfo.AikPub",
        ),
        (
            "empty quote",
            Box::new(|v| v["TpmInfo"]["PcrQuote"] = json!("")),
            2,
            "TpmInfo.PcrQuote",
        ),
        (
            "PcrSet mismatch",
            Box::new(|v| v["TpmInfo"]["PcrSet"] = json!([0, 1])),
            2,
            "PcrSet",
        ),
        (
            "bad digest",
            Box::new(|v| v["TpmInfo"]["PCRs"][2]["Digest"] = json!("*")),
            2,
            "PCRs[2]",
        ),
        (
            "bad payload",
            Box::new(|v| v["ClientPayload"]["nonce"] = json!("@@")),
            2,
            "ClientPayload.nonce",
        ),
        (
            "proof not json",
            Box::new(|v| v["IsolationInfo"]["Evidence"]["Proof"] = json!(STANDARD.encode("x"))),
            16,
            "Proof",
        ),
        (
            "no evidence",
            Box::new(|v| {
                v["IsolationInfo"]
                    .as_object_mut()
                    .unwrap()
                    .remove("Evidence");
            }),
            2,
            "Evidence",
        ),
        (
            "trusted launch",
            Box::new(|v| v["IsolationInfo"]["Type"] = json!("TrustedLaunch")),
            8,
            "trusted-launch",
        ),
        (
            "unknown type",
            Box::new(|v| v["IsolationInfo"]["Type"] = json!("Sgx")),
            16,
            "AttestationInfo",
        ),
        (
            "empty chain",
            Box::new(|v| {
                let proof = json!({"SnpReport": "AAAA", "VcekCertChain": ""});
                v["IsolationInfo"]["Evidence"]["Proof"] = json!(STANDARD.encode(proof.to_string()));
            }),
            17,
            "VCEK",
        ),
        (
            "empty report",
            Box::new(|v| {
                let proof = json!({"SnpReport": "", "VcekCertChain": STANDARD.encode(certs_to_pem(&[vec![1, 2, 3]]))});
                v["IsolationInfo"]["Evidence"]["Proof"] = json!(STANDARD.encode(proof.to_string()));
            }),
            21,
            "report",
        ),
        (
            "major as string",
            Box::new(|v| v["OSVersionMajor"] = json!("22")),
            16,
            "AttestationInfo",
        ),
    ];
    for (name, mutate, want, mentions) in cases {
        let mut v = good.clone();
        mutate(&mut v);
        let err = parse_request_body(&body_with(&v)).unwrap_err();
        assert_eq!(err.code().number(), want, "{name}: {err}");
        assert!(err.to_string().contains(mentions), "{name}: {err}");
    }
}

#[test]
fn os_release_parsing() {
    let text = "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\n# comment\n";
    let os = OsInfo::from_os_release(text, Some("6.8.0-azure\n")).unwrap();
    assert_eq!(os, OsInfo::new("Linux", "Ubuntu", 22, 4, "6.8.0-azure"));
    let os = OsInfo::from_os_release("ID=debian\nVERSION_ID=12\n", None).unwrap();
    assert_eq!(os, OsInfo::new("Linux", "debian", 12, 0, "NotApplicable"));
    let os = OsInfo::from_os_release("NAME=Arch Linux\nVERSION_ID=rolling\n", None).unwrap();
    assert_eq!((os.version_major, os.version_minor), (1, 0));
    let os = OsInfo::from_os_release("NAME=X\n", None).unwrap();
    assert_eq!((os.version_major, os.version_minor), (1, 0));
    let err = OsInfo::from_os_release("VERSION_ID=1\n", None).unwrap_err();
    assert_eq!(err.code().number(), 11);
    // Whatever the host is, detection must not panic.
    let _ = OsInfo::detect();
}

#[test]
fn sev_snp_vm_request_shape_and_round_trip() {
    let ev = sample_evidence();
    let mut req = SevSnpVmRequest::new(&ev.hardware_report, &ev.certificates).unwrap();
    req.runtime_data = Some(RuntimeData::new(&ev.runtime_data, RuntimeDataType::Json));
    req.nonce = Some("n-1".into());
    let v = serde_json::to_value(&req).unwrap();
    assert_eq!(v["runtimeData"]["dataType"], "JSON");
    assert_eq!(v["nonce"], "n-1");
    assert!(v.get("draftPolicyForAttestation").is_none());
    assert!(v.get("initTimeData").is_none());
    let proof: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(v["report"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(proof["SnpReport"].is_string() && proof["VcekCertChain"].is_string());
    let back = SevSnpVmRequest::from_body(v.to_string().as_bytes()).unwrap();
    assert_eq!(back, req);
    let (report, certs) = back.decode_report().unwrap();
    assert_eq!(report, ev.hardware_report);
    assert_eq!(certs, ev.certificates);
    assert_eq!(back.runtime_data.unwrap().bytes().unwrap(), ev.runtime_data);
    let binary: Value =
        serde_json::to_value(RuntimeData::new(b"x", RuntimeDataType::Binary)).unwrap();
    assert_eq!(binary, json!({"data": "eA", "dataType": "Binary"}));
    assert_eq!(
        SevSnpVmRequest::from_body(b"").unwrap_err().code().number(),
        19
    );
    assert_eq!(
        SevSnpVmRequest::from_body(b"[")
            .unwrap_err()
            .code()
            .number(),
        16
    );
    assert_eq!(
        SevSnpVmRequest::new(&[], &ev.certificates)
            .unwrap_err()
            .code()
            .number(),
        21
    );
}

#[test]
fn tdx_vm_request_shape_and_round_trip() {
    let mut ev =
        tee_attest_core::Evidence::new(TeeId::new("tdx"), tee_attest_maa::azureguest::TDX_VM);
    ev.hardware_report = vec![4, 0, 2, 0, 0x81, 0xfe, 0xff];
    ev.runtime_data = br#"{"nonce":"n-1"}"#.to_vec();
    ev.runtime_data_json = true;
    ev.nonce = b"n-1".to_vec();
    let req = TdxVmRequest::from_evidence(&ev).unwrap();
    let v = serde_json::to_value(&req).unwrap();
    assert_eq!(v["quote"], URL_SAFE_NO_PAD.encode(&ev.hardware_report));
    assert_eq!(v["runtimeData"]["dataType"], "JSON");
    assert_eq!(v["nonce"], "n-1");
    for absent in ["draftPolicyForAttestation", "initTimeData", "report"] {
        assert!(v.get(absent).is_none(), "{absent}");
    }
    let back = TdxVmRequest::from_body(v.to_string().as_bytes()).unwrap();
    assert_eq!(back, req);
    let e = back.to_evidence().unwrap();
    assert_eq!(e.tee, TeeId::new("tdx"));
    assert_eq!(e.evidence_type, ev.evidence_type);
    assert_eq!(e.hardware_report, ev.hardware_report);
    assert_eq!(e.runtime_data, ev.runtime_data);
    assert!(e.runtime_data_json);
    assert_eq!(e.nonce, ev.nonce);
    // Binary runtime data, no nonce.
    ev.runtime_data_json = false;
    ev.nonce.clear();
    let v = serde_json::to_value(TdxVmRequest::from_evidence(&ev).unwrap()).unwrap();
    assert_eq!(v["runtimeData"]["dataType"], "Binary");
    assert!(v.get("nonce").is_none());
    // Typed refusals.
    assert_eq!(TdxVmRequest::new(&[]).unwrap_err().code().number(), 21);
    assert_eq!(
        TdxVmRequest::from_body(b" ").unwrap_err().code().number(),
        19
    );
    assert_eq!(
        TdxVmRequest::from_body(b"{}").unwrap_err().code().number(),
        16
    );
    let bad = TdxVmRequest::from_body(br#"{"quote":"!!"}"#).unwrap();
    assert_eq!(bad.decode_quote().unwrap_err().code().number(), 2);
    assert_eq!(
        TdxVmRequest::from_evidence(&sample_evidence())
            .unwrap_err()
            .code()
            .number(),
        8
    );
    ev.nonce = vec![0xff];
    assert_eq!(
        TdxVmRequest::from_evidence(&ev)
            .unwrap_err()
            .code()
            .number(),
        8
    );
}

#[test]
fn pem_errors() {
    assert!(pem_certificates("").unwrap().is_empty());
    assert_eq!(
        pem_certificates("-----BEGIN CERTIFICATE-----\nAAAA\n")
            .unwrap_err()
            .code()
            .number(),
        2
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_request_body(&bytes);
            let body = json!({"AttestationInfo": URL_SAFE_NO_PAD.encode(&bytes)}).to_string();
            let _ = parse_request_body(body.as_bytes());
        }

        #[test]
        fn byte_flips_in_the_body_never_panic(pos in 0usize..4000, bit in 0u8..8) {
            let body = build_request_body(&sample_evidence(), &os()).unwrap();
            let mut b = body.into_bytes();
            let i = pos % b.len();
            b[i] ^= 1 << bit;
            let _ = parse_request_body(&b);
        }
    }
}
