//! `cargo xtask gen-vectors` runs this: it (re)generates the repository's
//! own mock vectors under `testvectors/mock/`, or with `--check` checks that
//! the stored ones load and form a valid chain.
//!
//! usage: gen-vectors DIR [--check]

use tee_attest_mock::amd::{MockAmdRoots, MockSnpReport, MockTcb};
use tee_attest_snp::{RootOrigin, SnpOptions, SnpVerifier, TrustAnchors};

fn check(roots: &MockAmdRoots) -> Result<(), String> {
    let vcek = roots
        .issue_vcek([1; 64], MockTcb::default())
        .map_err(|e| e.to_string())?;
    let report = MockSnpReport::default()
        .sign(&vcek)
        .map_err(|e| e.to_string())?;
    let verifier = SnpVerifier::new(
        TrustAnchors::empty()
            .with_extra_root(roots.ark_der())
            .map_err(|e| e.to_string())?,
    );
    let ok = verifier
        .verify(
            &report,
            &[vcek.der().to_vec(), roots.ask_der().to_vec()],
            &SnpOptions::default(),
        )
        .map_err(|e| e.to_string())?;
    if ok.root != RootOrigin::Extra {
        return Err("the mock chain did not end in the mock root".into());
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: gen-vectors DIR [--check]");
        return std::process::ExitCode::from(2);
    };
    let path = std::path::Path::new(dir).join("amd-milan.pem");
    let result = if args.iter().any(|a| a == "--check") {
        std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|t| MockAmdRoots::from_pem("Milan", &t).map_err(|e| e.to_string()))
            .and_then(|r| check(&r))
            .map(|()| println!("{}: valid mock Milan chain", path.display()))
    } else {
        MockAmdRoots::generate("Milan")
            .map_err(|e| e.to_string())
            .and_then(|r| check(&r).map(|()| r))
            .and_then(|r| r.to_pem().map_err(|e| e.to_string()))
            .and_then(|pem| std::fs::write(&path, pem).map_err(|e| e.to_string()))
            .map(|()| println!("wrote {}", path.display()))
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-vectors: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
