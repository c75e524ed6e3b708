//! The MAA policy language (1.0–1.2): lexer, parser, checks. A policy that
//! parses must print (canonical text) to a policy that parses to the same
//! tree and prints the same; the syntax error of one that does not must
//! point inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_policy::{policy_hash, Policy, PolicyError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = policy_hash(text);
    match Policy::parse(text) {
        Ok(p) => {
            let printed = p.to_string();
            let again = match Policy::parse(&printed) {
                Ok(a) => a,
                Err(e) => panic!("the printed policy does not parse: {e}\n{printed}"),
            };
            assert_eq!(
                again.ast(),
                p.ast(),
                "print/parse changed the tree:\n{printed}"
            );
            assert_eq!(again.to_string(), printed, "printing is not idempotent");
        }
        Err(PolicyError::Syntax(e)) => {
            assert!(e.line >= 1 && e.col >= 1, "{e}");
            assert!(
                e.line as usize <= text.lines().count().max(1) + 1,
                "error line {} past the text's end",
                e.line
            );
        }
        Err(_) => {}
    }
});
