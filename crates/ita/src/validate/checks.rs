//! The checks: everything that needs no key (`precheck`: size,
//! structure, header, issuer, times), then the signature and the claims
//! that only count once it verifies (`finish`: nonce, policy ids).

use super::parts::{ClaimsSeed, HeaderSeed};
use super::*;

impl ItaValidator {
    /// Structure, header, issuer and time checks: everything that needs no
    /// key.
    pub(super) fn precheck<'t>(&self, token: &'t str) -> Result<Parsed<'t>, ItaError> {
        let token = token.trim_matches(|c: char| c.is_ascii_whitespace());
        if token.len() > self.max_token_bytes {
            return Err(ItaError::rejected(
                TokenCheck::Size,
                format!(
                    "{} bytes; at most {} accepted",
                    token.len(),
                    self.max_token_bytes
                ),
            ));
        }
        let segments = token.split('.').count();
        if segments != 3 {
            return Err(ItaError::rejected(
                TokenCheck::Format,
                format!("{segments} segments instead of 3"),
            ));
        }
        let Some((message, sig)) = token.rsplit_once('.') else {
            return Err(ItaError::rejected(TokenCheck::Format, "no signature part"));
        };
        let Some((h, p)) = message.split_once('.') else {
            return Err(ItaError::rejected(TokenCheck::Format, "no payload part"));
        };
        if h.is_empty() || p.is_empty() {
            return Err(ItaError::rejected(
                TokenCheck::Format,
                "header and payload must be non-empty unpadded base64url",
            ));
        }
        let header_json = decode_part(h, "header")?;
        let header_text = json_text(&header_json, TokenCheck::Header, "header")?;
        let header = from_str_seed(header_text, HeaderSeed).map_err(|e| {
            ItaError::rejected(
                TokenCheck::Header,
                format!("the header is not acceptable JSON: {e}"),
            )
        })?;
        let alg = match header.alg.as_ref().and_then(Value::as_str) {
            Some(name) => match TokenAlg::from_name(name) {
                Some(a) if self.algorithms[alg_index(a)] => a,
                _ => {
                    return Err(ItaError::rejected(
                        TokenCheck::Algorithm,
                        format!(
                            "alg {name:?} is not allowed (allowed: {})",
                            self.algorithm_list()
                        ),
                    ))
                }
            },
            None => {
                return Err(ItaError::rejected(
                    TokenCheck::Algorithm,
                    format!(
                        "alg {} is not allowed (allowed: {})",
                        header
                            .alg
                            .as_ref()
                            .map_or_else(|| "(missing)".to_string(), Value::to_string),
                        self.algorithm_list()
                    ),
                ))
            }
        };
        if let Some(typ) = &header.typ {
            if !typ.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT")) {
                return Err(ItaError::rejected(
                    TokenCheck::Type,
                    format!("typ {typ} is not JWT"),
                ));
            }
        }
        if header.crit {
            return Err(ItaError::rejected(
                TokenCheck::Critical,
                "critical header extensions are not supported",
            ));
        }
        let kid = match header.kid {
            Some(Value::String(k)) if !k.is_empty() => k,
            Some(Value::String(_)) => {
                return Err(ItaError::rejected(TokenCheck::KeyId, "kid is empty"))
            }
            Some(other) => {
                return Err(ItaError::rejected(
                    TokenCheck::KeyId,
                    format!("kid {other} is not a string"),
                ))
            }
            None => {
                return Err(ItaError::rejected(
                    TokenCheck::KeyId,
                    "the token names no kid (ITA tokens must)",
                ))
            }
        };
        if sig.is_empty() {
            return Err(ItaError::rejected(
                TokenCheck::Signature,
                "the token carries no signature",
            ));
        }
        let signature = b64url(sig).ok_or_else(|| {
            ItaError::rejected(TokenCheck::Format, "the signature is not base64url")
        })?;
        let claims_json = decode_part(p, "payload")?;
        let claims_text = json_text(&claims_json, TokenCheck::Claims, "payload")?;
        let claims = from_str_seed(claims_text, ClaimsSeed).map_err(|e| {
            ItaError::rejected(
                TokenCheck::Claims,
                format!("the payload is not acceptable JSON: {e}"),
            )
        })?;
        match claims.iss.as_ref() {
            Some(Value::String(iss)) if *iss == self.issuer => {}
            Some(iss) => {
                return Err(ItaError::rejected(
                    TokenCheck::Issuer,
                    format!("iss {iss} is not {:?}", self.issuer),
                ))
            }
            None => return Err(ItaError::rejected(TokenCheck::Issuer, "no `iss` claim")),
        }
        let now = self.clock.now_unix();
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(300);
        let exp = time_claim(claims.exp.as_ref(), "exp", TokenCheck::MissingExpiry)?
            .ok_or_else(|| ItaError::rejected(TokenCheck::MissingExpiry, "no `exp` claim"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(ItaError::rejected(
                TokenCheck::Expired,
                format!("expired at {exp}; now is {now}"),
            ));
        }
        for (name, claim) in [("nbf", &claims.nbf), ("iat", &claims.iat)] {
            if let Some(t) = time_claim(claim.as_ref(), name, TokenCheck::NotYetValid)? {
                if now.saturating_add(leeway) < t {
                    return Err(ItaError::rejected(
                        TokenCheck::NotYetValid,
                        format!("`{name}` {t} is in the future; now is {now}"),
                    ));
                }
            }
        }
        Ok(Parsed {
            token,
            message,
            signature,
            alg,
            kid,
            header_json,
            claims_json,
            verifier_nonces: [claims.verifier_nonce, claims.tdx_verifier_nonce],
            policy_ids_matched: claims.policy_ids_matched,
        })
    }

    pub(super) fn finish(
        &self,
        parsed: Parsed<'_>,
        key: &ParsedPublicKey,
        expect: Expectations<'_>,
    ) -> Result<ItaToken, ItaError> {
        if key
            .verify_sig(parsed.message.as_bytes(), &parsed.signature)
            .is_err()
        {
            return Err(ItaError::rejected(
                TokenCheck::Signature,
                "the signature does not verify",
            ));
        }
        if let Some(want) = expect.verifier_nonce {
            check_nonce(&parsed.verifier_nonces, want)?;
        }
        if !expect.policy_ids.is_empty() {
            check_policies(parsed.policy_ids_matched.as_ref(), expect.policy_ids)?;
        }
        let token = AttestationToken::from_checked_parts(
            parsed.token,
            parsed.header_json,
            parsed.claims_json,
        );
        Ok(ItaToken::new(token, parsed.alg, parsed.kid))
    }
}

/// What the key-less checks found.
pub(super) struct Parsed<'t> {
    pub(super) token: &'t str,
    /// `header.payload`, the signed bytes.
    pub(super) message: &'t str,
    pub(super) signature: Vec<u8>,
    pub(super) alg: TokenAlg,
    pub(super) kid: String,
    pub(super) header_json: Vec<u8>,
    pub(super) claims_json: Vec<u8>,
    /// `verifier_nonce` at the top level and in the `tdx` object.
    pub(super) verifier_nonces: [Option<Value>; 2],
    pub(super) policy_ids_matched: Option<Value>,
}

pub(super) fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, ItaError> {
    b64url(part).ok_or_else(|| {
        ItaError::rejected(TokenCheck::Format, format!("the {what} is not base64url"))
    })
}

pub(super) fn json_text<'a>(
    bytes: &'a [u8],
    check: TokenCheck,
    what: &str,
) -> Result<&'a str, ItaError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ItaError::rejected(check, format!("the {what} is not UTF-8")))?;
    if !text.trim_start().starts_with('{') {
        return Err(ItaError::rejected(
            check,
            format!("the {what} is not a JSON object"),
        ));
    }
    Ok(text)
}

pub(super) fn time_claim(
    claim: Option<&Value>,
    name: &str,
    check: TokenCheck,
) -> Result<Option<i64>, ItaError> {
    match claim {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| ItaError::rejected(check, format!("`{name}` is not a number"))),
    }
}

/// Every `verifier_nonce` the token carries must be the one issued, and it
/// must carry one.
pub(super) fn check_nonce(
    claims: &[Option<Value>; 2],
    want: &VerifierNonce,
) -> Result<(), ItaError> {
    let mut seen = false;
    for claim in claims.iter().flatten() {
        seen = true;
        let field = |name: &str| claim.get(name).and_then(Value::as_str);
        let ok = match (field("val"), field("iat"), field("signature")) {
            (Some(v), Some(i), Some(s)) => want.matches(v, i, s),
            _ => false,
        };
        if !ok {
            return Err(ItaError::rejected(
                TokenCheck::VerifierNonce,
                "the token's verifier_nonce is not the nonce issued",
            ));
        }
    }
    if seen {
        Ok(())
    } else {
        Err(ItaError::rejected(
            TokenCheck::VerifierNonce,
            "the token carries no verifier_nonce",
        ))
    }
}

pub(super) fn check_policies(matched: Option<&Value>, want: &[String]) -> Result<(), ItaError> {
    let ids: Vec<&str> = match matched {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|p| p.get("id").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    };
    for w in want {
        if !ids.iter().any(|id| id.eq_ignore_ascii_case(w)) {
            return Err(ItaError::rejected(
                TokenCheck::Policy,
                format!("policy {w} is not in policy_ids_matched"),
            ));
        }
    }
    Ok(())
}
