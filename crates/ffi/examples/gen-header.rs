//! Generate `include/tee_attest.h` from the crate's source with cbindgen,
//! or, with `--check`, fail if the committed header differs.
//!
//! ```text
//! cargo run -p tee-attest-ffi --example gen-header             # write
//! cargo run -p tee-attest-ffi --example gen-header -- --check  # check
//! ```

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let check = std::env::args().skip(1).any(|a| a == "--check");
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = crate_dir.join("include/tee_attest.h");
    let config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gen-header: reading cbindgen.toml: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bindings = match cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => b,
        Err(e) => {
            eprintln!("gen-header: cbindgen failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut text = Vec::new();
    bindings.write(&mut text);
    if check {
        let current = std::fs::read(&header).unwrap_or_default();
        if current != text {
            eprintln!(
                "gen-header: {} is not current: run `cargo run -p tee-attest-ffi --example gen-header`",
                header.display()
            );
            return ExitCode::FAILURE;
        }
        println!("gen-header: {} is current", header.display());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::write(&header, &text) {
        eprintln!("gen-header: writing {}: {e}", header.display());
        return ExitCode::FAILURE;
    }
    println!("gen-header: wrote {}", header.display());
    ExitCode::SUCCESS
}
