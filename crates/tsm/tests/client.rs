//! The client where no configfs-tsm exists (no FUSE needed).

use std::fs;

use tee_attest_tsm::{ReportRequest, Tsm, PROVIDER_SEV_GUEST};

fn request() -> ReportRequest<'static> {
    ReportRequest::new([7u8; 64], PROVIDER_SEV_GUEST)
}

#[test]
fn absent_root_is_code_12_and_probe_says_none() {
    let tmp = tempfile::tempdir().unwrap();
    let dev = tmp.path().join("dev");
    fs::create_dir(&dev).unwrap();
    let tsm = Tsm::new(Some(tmp.path().join("no-such-root"))).with_dev_root(&dev);
    let err = tsm.report(&request()).unwrap_err();
    assert_eq!(err.code().number(), 12, "{err}");
    assert!(err.message().contains("no-such-root"), "{}", err.message());
    assert_eq!(tsm.probe().unwrap(), None);
}

#[test]
fn a_legacy_device_without_configfs_tsm_says_the_kernel_is_too_old() {
    for device in ["sev-guest", "tdx_guest"] {
        let tmp = tempfile::tempdir().unwrap();
        let dev = tmp.path().join("dev");
        fs::create_dir(&dev).unwrap();
        fs::write(dev.join(device), b"").unwrap();
        let tsm = Tsm::new(Some(tmp.path().join("tsm/report"))).with_dev_root(&dev);
        let err = tsm.report(&request()).unwrap_err();
        assert_eq!(err.code().number(), 12, "{err}");
        let msg = err.message();
        assert!(msg.contains(device), "{msg}");
        assert!(msg.contains("6.7"), "{msg}");
        assert!(msg.contains("legacy"), "{msg}");
    }
}

#[test]
fn a_root_that_is_a_file_is_code_12() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("report");
    fs::write(&root, b"").unwrap();
    let tsm = Tsm::new(Some(root)).with_dev_root(tmp.path());
    let err = tsm.report(&request()).unwrap_err();
    assert_eq!(err.code().number(), 12, "{err}");
    assert!(
        err.message().contains("not a directory"),
        "{}",
        err.message()
    );
}

/// A plain directory is no configfs-tsm: a new report directory there has no
/// `provider`, which is code 12, and the directory is removed again.
#[test]
fn a_plain_directory_is_not_configfs_tsm() {
    let tmp = tempfile::tempdir().unwrap();
    let tsm = Tsm::new(Some(tmp.path().to_path_buf()));
    let err = tsm.report(&request()).unwrap_err();
    assert_eq!(err.code().number(), 12, "{err}");
    assert!(err.message().contains("provider"), "{}", err.message());
    assert_eq!(tsm.probe().unwrap_err().code().number(), 12);
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "dirs left behind"
    );
}

#[test]
fn invalid_requests_are_code_8() {
    let tmp = tempfile::tempdir().unwrap();
    let tsm = Tsm::new(Some(tmp.path().to_path_buf()));
    let mut req = request();
    req.privlevel = Some(4);
    assert_eq!(tsm.report(&req).unwrap_err().code().number(), 8);
    let req = ReportRequest::new([0; 64], "");
    assert_eq!(tsm.report(&req).unwrap_err().code().number(), 8);
}
