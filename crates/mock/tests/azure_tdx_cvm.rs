//! The mock Azure TDX CVM piece by piece: the HCL report the mock HCL
//! rebuilds on each user-data write (type 4, header version 2, a TDREPORT
//! of the mock TD binding the variable data), and the mock IMDS TD quote
//! service (exactly `Content-Type: application/json` and `Metadata: true`,
//! quotes only of TDREPORTs made on its platform). Loopback only.

use std::io::{Read, Write};
use std::net::TcpStream;

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tee_attest_azure::provider::TdQuoteClient;
use tee_attest_azure::{check_quote_matches, HclReport, ReportType};
use tee_attest_mock::intel::MockIntelPlatform;
use tee_attest_mock::{MockAzureCvm, MockIsolation};
use tee_attest_snp::collateral::HttpConfig;
use tee_attest_tdx::Quote;
use tee_attest_tpm::handles::{HCL_REPORT_NV_INDEX, HCL_USER_DATA_NV_INDEX};
use tee_attest_tpm::Tpm;

/// Writes `user_data` through the mock HCL and reads the HCL report back.
fn refreshed(cvm: &MockAzureCvm, user_data: &[u8; 64]) -> HclReport {
    let mut tpm = Tpm::open_tcti(&cvm.tcti()).expect("the vTPM through the mock HCL");
    tpm.nv_write(HCL_USER_DATA_NV_INDEX, user_data)
        .expect("user data");
    let raw = tpm.nv_read(HCL_REPORT_NV_INDEX).expect("the HCL report");
    HclReport::from_bytes(&raw).expect("an HCL report")
}

#[test]
fn the_hcl_report_is_rebuilt_as_a_tdx_report_on_each_user_data_write() {
    let cvm = MockAzureCvm::start_tdx().expect("the mock Azure TDX CVM needs swtpm");
    assert_eq!(cvm.isolation(), MockIsolation::Tdx);
    let platform = MockIntelPlatform::stored().expect("the stored platform");
    assert_eq!(cvm.root_der(), platform.root_der());
    assert!(cvm.ark_der().is_empty());

    for user_data in [[0x11u8; 64], [0x22u8; 64]] {
        let hcl = refreshed(&cvm, &user_data);
        assert_eq!(hcl.report_type(), ReportType::Tdx);
        assert!(hcl.is_tdx());
        assert_eq!(
            hcl.header.version, 2,
            "Azure's TDX paravisor writes version 2"
        );
        hcl.check_binding()
            .expect("the TDREPORT binds the variable data");
        let var = hcl.var_data().expect("variable data");
        assert_eq!(var.user_data().as_deref(), Some(&user_data[..]));
        let td = hcl.td_report().expect("a TDX TDREPORT, hashes checked");
        let hash = digest::digest(&digest::SHA256, &hcl.var_data);
        assert_eq!(&td.report_data[..32], hash.as_ref());
        assert_eq!(td.report_data[32..], [0; 32]);
        let mock_td = cvm.td().expect("the mock TD");
        assert_eq!(td.mr_td, mock_td.mr_td);
        assert_eq!(td.rtmr, mock_td.rtmr);
        // Only the mock platform's quoting enclave accepts it; its quote is
        // of this TDREPORT.
        let quote = platform
            .quote_from_tdreport(hcl.tdreport().expect("TDREPORT"))
            .expect("quoted");
        check_quote_matches(&Quote::parse(&quote).expect("a quote"), &td)
            .expect("the quote is of the TDREPORT");
        let other = MockIntelPlatform::from_seed(b"another platform").expect("platform");
        assert!(other
            .quote_from_tdreport(hcl.tdreport().expect("TDREPORT"))
            .is_err());
    }
}

/// One raw HTTP/1.1 exchange with the mock IMDS: (status, body).
fn post(base: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("the mock IMDS");
    let mut req = format!(
        "POST /acc/tdquote HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("request");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("response");
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_imds_quotes_tdreports_as_azure_s_does() {
    let cvm = MockAzureCvm::start_tdx().expect("the mock Azure TDX CVM needs swtpm");
    let base = cvm.imds_url();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let hcl = refreshed(&cvm, &[0x33; 64]);
    let report = hcl.tdreport().expect("TDREPORT").to_vec();

    // The provider's client: a v4 quote of this TDREPORT.
    let client = TdQuoteClient::new(&base, HttpConfig::default()).expect("client");
    let quote = client.quote(&report).await.expect("quoted");
    let q = Quote::parse(&quote).expect("a quote");
    assert_eq!(q.header.version, 4);
    check_quote_matches(&q, &hcl.td_report().expect("td")).expect("of this TDREPORT");
    assert_eq!(cvm.imds().tdquotes_served(), 1);

    let body = serde_json::json!({ "report": URL_SAFE_NO_PAD.encode(&report) }).to_string();
    let json = ("Content-Type", "application/json");
    let metadata = ("Metadata", "true");
    let (base2, body2) = (base.clone(), body.clone());
    let exchanges = tokio::task::spawn_blocking(move || {
        let (base, body) = (base2, body2);
        vec![
            // Exactly application/json, else 415.
            post(&base, &[json, metadata], &body),
            post(
                &base,
                &[
                    ("Content-Type", "application/json; charset=utf-8"),
                    metadata,
                ],
                &body,
            ),
            post(&base, &[("Content-Type", "text/plain"), metadata], &body),
            post(&base, &[metadata], &body),
            // Metadata: true, else 400.
            post(&base, &[json], &body),
            // Not a TDREPORT of this platform, not base64, not JSON: 400.
            post(
                &base,
                &[json, metadata],
                &serde_json::json!({ "report": URL_SAFE_NO_PAD.encode([7u8; 1024]) }).to_string(),
            ),
            post(&base, &[json, metadata], r#"{"report": "!!"}"#),
            post(&base, &[json, metadata], "not json"),
        ]
    })
    .await
    .expect("the exchanges");
    let statuses: Vec<u16> = exchanges.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [200, 415, 415, 415, 400, 400, 400, 400]);
    assert!(exchanges[0].1.contains("\"quote\""), "{}", exchanges[0].1);
    assert!(
        exchanges[4].1.contains("Required metadata header"),
        "{}",
        exchanges[4].1
    );
    assert_eq!(cvm.imds().tdquotes_served(), 2);

    // The client refuses what is not a TDREPORT before asking.
    let err = TdQuoteClient::new(&base, HttpConfig::default())
        .expect("client")
        .quote(&[0u8; 100])
        .await
        .expect_err("not a TDREPORT");
    assert_eq!(err.to_string(), "a TDREPORT is 1024 bytes, not 100");
}
