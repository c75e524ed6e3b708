//! The IMDS TD quote client against a loopback IMDS that behaves as
//! Azure's (`POST /acc/tdquote`: Content-Type exactly `application/json`,
//! else 415; `Metadata: true`): the quote, and each failure's code, within
//! bounded time. Nothing but 127.0.0.1 is contacted.

mod common;

use std::time::Duration;

use common::{imds, quote_for, Answer, Imds};
use tee_attest_azure::provider::{ImdsError, TdQuoteClient, AZURE_IMDS_URL};
use tee_attest_core::CodedError;
use tee_attest_snp::collateral::HttpConfig;
use tee_attest_testkit::vector;

fn td_report() -> Vec<u8> {
    vector("azure-tdx/hcl-report.bin")[32..32 + 1024].to_vec()
}

fn http(attempts: u32) -> HttpConfig {
    HttpConfig::fast(
        Duration::from_secs(3),
        attempts,
        Duration::from_millis(10),
        Duration::from_millis(100),
    )
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("finished within the bound")
}

async fn ask(script: std::sync::Arc<Imds>, attempts: u32) -> Result<Vec<u8>, ImdsError> {
    let base = imds(script).await;
    let client = TdQuoteClient::new(&base, http(attempts)).unwrap();
    bounded(client.quote(&td_report())).await
}

#[tokio::test]
async fn the_quote_comes_for_the_tdreport_sent() {
    let script = Imds::new(vec![], Answer::Quote);
    let quote = ask(script.clone(), 1).await.unwrap();
    assert_eq!(quote, quote_for(&td_report()));
    assert_eq!(script.hits(), 1);
    // The server decoded exactly the TDREPORT sent (base64url).
    assert_eq!(script.reports.lock().unwrap().as_slice(), [td_report()]);
}

#[tokio::test]
async fn the_default_is_azure_imds_and_the_path_is_acc_tdquote() {
    assert_eq!(AZURE_IMDS_URL, "http://169.254.169.254");
    // Built, never contacted.
    let c = TdQuoteClient::new(AZURE_IMDS_URL, HttpConfig::default()).unwrap();
    assert_eq!(c.url(), "http://169.254.169.254/acc/tdquote");
}

#[tokio::test]
async fn http_415_and_other_statuses_are_code_5() {
    let err = ask(Imds::new(vec![], Answer::Status(415, "")), 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImdsError::UnsupportedMediaType { .. }),
        "{err}"
    );
    assert_eq!(err.code().number(), 5);
    assert!(err.to_string().contains("application/json"), "{err}");
    for status in [400, 403, 404] {
        let err = ask(Imds::new(vec![], Answer::Status(status, "nope")), 1)
            .await
            .unwrap_err();
        assert_eq!(err.code().number(), 5, "{err}");
        assert!(err.to_string().contains(&format!("HTTP {status}")), "{err}");
        assert!(err.to_string().contains("nope"), "{err}");
    }
}

#[tokio::test]
async fn server_errors_are_retried_then_code_4() {
    let script = Imds::new(
        vec![Answer::Status(503, ""), Answer::Status(500, "")],
        Answer::Quote,
    );
    let quote = ask(script.clone(), 3).await.unwrap();
    assert_eq!(quote, quote_for(&td_report()));
    assert_eq!(script.hits(), 3);

    let script = Imds::new(vec![], Answer::Status(503, "busy"));
    let err = ask(script.clone(), 2).await.unwrap_err();
    assert_eq!(err.code().number(), 4, "{err}");
    assert_eq!(script.hits(), 2);
}

#[tokio::test]
async fn malformed_answers_have_their_codes() {
    for (answer, code, needle) in [
        (Answer::Body(""), 18, "empty"),
        (Answer::Body("not json"), 16, "JSON"),
        (Answer::Body(r#"{"quote": 7}"#), 16, "quote"),
        (Answer::Body(r#"{"Quote": "AAAA"}"#), 16, "quote"),
        (Answer::Body(r#"{"quote": "***"}"#), 2, "base64url"),
        (Answer::Body(r#"{"quote": ""}"#), 21, "empty quote"),
        (Answer::QuoteBytes(Vec::new()), 21, "empty quote"),
    ] {
        let err = ask(Imds::new(vec![], answer.clone()), 1).await.unwrap_err();
        assert_eq!(err.code().number(), code, "{answer:?}: {err}");
        assert!(err.to_string().contains(needle), "{answer:?}: {err}");
    }
    // Padded standard base64 is read too.
    let ok = ask(Imds::new(vec![], Answer::Body(r#"{"quote": "+/8="}"#)), 1)
        .await
        .unwrap();
    assert_eq!(ok, vec![0xfb, 0xff]);
}

#[tokio::test]
async fn unreachable_imds_is_code_7_or_4_and_a_bad_tdreport_code_8() {
    let client = TdQuoteClient::new("http://127.0.0.1:1", http(1)).unwrap();
    let err = bounded(client.quote(&td_report())).await.unwrap_err();
    assert_eq!(err.code().number(), 7, "{err}");
    let client = TdQuoteClient::new("http://127.0.0.1:1", http(2)).unwrap();
    let err = bounded(client.quote(&td_report())).await.unwrap_err();
    assert_eq!(err.code().number(), 4, "{err}");
    // Not 1024 bytes: refused before sending.
    let err = bounded(client.quote(&[0u8; 100])).await.unwrap_err();
    assert_eq!(err.code().number(), 8, "{err}");
}

#[tokio::test]
async fn the_service_refuses_another_media_type_with_415() {
    // The loopback service is as strict as Azure's: a client sending
    // anything but exactly `application/json` gets 415 (this is what the
    // client's 415 handling is for).
    let script = Imds::new(vec![], Answer::Quote);
    let base = imds(script.clone()).await;
    let http = tee_attest_http::Http::new(http(1)).unwrap();
    let url = format!("{base}/acc/tdquote");
    for ct in [
        "application/json; charset=utf-8",
        "text/plain",
        "Application/JSON",
    ] {
        let resp = http
            .request(
                tee_attest_http::Method::POST,
                &url,
                &[("Content-Type", ct), ("Metadata", "true")],
                Some(b"{}"),
            )
            .await
            .unwrap();
        assert_eq!(resp.status, 415, "{ct}");
    }
}
