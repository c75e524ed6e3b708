//! The checks: everything that needs no key (`precheck`: size,
//! structure, header, issuer, audience, times), then the signature and the
//! claims that only count once it verifies (`finish`).

use aws_lc_rs::signature::ParsedPublicKey;
use serde_json::Value;
use tee_attest_core::{AttestationToken, MOCK_EVIDENCE_CLAIM};

use super::parts::{b64url_decode, checked_object};
use super::{normalize_issuer, Algorithm, TokenValidator};
use crate::{b64, MaaError, TokenCheck};

impl TokenValidator {
    /// Structure, header and time/issuer checks: everything that needs no key.
    pub(super) fn precheck<'t>(&self, token: &'t str) -> Result<Parsed<'t>, MaaError> {
        let token = token.trim_matches(|c: char| c.is_ascii_whitespace());
        if token.len() > self.max_token_bytes {
            return Err(MaaError::rejected(
                TokenCheck::Size,
                format!(
                    "{} bytes; at most {} accepted",
                    token.len(),
                    self.max_token_bytes
                ),
            ));
        }
        let segments = || token.split('.').count();
        let Some((message, s)) = token.rsplit_once('.') else {
            return Err(MaaError::rejected(
                TokenCheck::Format,
                "1 segment instead of 3",
            ));
        };
        let too_many = || {
            MaaError::rejected(
                TokenCheck::Format,
                format!("{} segments instead of 3", segments()),
            )
        };
        let Some((h, p)) = message.split_once('.') else {
            return Err(too_many());
        };
        if h.is_empty() || p.is_empty() {
            return Err(MaaError::rejected(
                TokenCheck::Format,
                "header and payload must be non-empty unpadded base64url",
            ));
        }
        // Base64url decoding refuses padding and any other alphabet.
        let (header_json, header) = checked_object(
            h,
            TokenCheck::Header,
            "header",
            [Some("alg"), Some("typ"), Some("crit"), Some("kid")],
        )?;
        let [alg, typ, crit, kid] = header.values;
        // Only the profile's algorithms, all asymmetric: never `none`, never
        // HMAC; the key must then be of the algorithm's type.
        let alg = match alg.as_ref().and_then(Value::as_str) {
            Some(name) => match Algorithm::from_name(name) {
                Some(a) if self.profile.allows(a) => a,
                _ => {
                    return Err(MaaError::rejected(
                        TokenCheck::Algorithm,
                        format!(
                            "alg {name:?} is not allowed (allowed: {})",
                            self.profile.algorithm_list()
                        ),
                    ))
                }
            },
            None => {
                return Err(MaaError::rejected(
                    TokenCheck::Algorithm,
                    format!(
                        "alg {} is not allowed (allowed: {})",
                        alg.map_or_else(|| "(missing)".to_string(), |a| a.to_string()),
                        self.profile.algorithm_list()
                    ),
                ))
            }
        };
        if let Some(typ) = typ {
            if !typ.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT")) {
                return Err(MaaError::rejected(
                    TokenCheck::Type,
                    format!("typ {typ} is not JWT"),
                ));
            }
        }
        if crit.is_some() {
            return Err(MaaError::rejected(
                TokenCheck::Critical,
                "critical header extensions are not supported",
            ));
        }
        if s.is_empty() {
            return Err(MaaError::rejected(
                TokenCheck::Signature,
                "the token carries no signature",
            ));
        }
        let signature = b64url_decode(s).ok_or_else(|| {
            MaaError::rejected(TokenCheck::Format, "the signature is not base64url")
        })?;
        let kid = match kid {
            None => None,
            Some(Value::String(k)) => Some(k),
            Some(other) => {
                return Err(MaaError::rejected(
                    TokenCheck::Header,
                    format!("kid {other} is not a string"),
                ))
            }
        };
        // A dot in the payload (more than three segments) fails its
        // base64url decoding, and is reported as such.
        // The claims every profile reads, then those only some read: `aud`
        // with an audience, the role claim with a role (`None` reads
        // nothing, so the MAA profile decodes no more than it always did).
        let role_claim = self.profile.role().map(|_| self.profile.role_claim());
        let mut wanted = [
            Some("iss"),
            Some("exp"),
            Some("nbf"),
            Some("iat"),
            Some("x-ms-ver"),
            Some(MOCK_EVIDENCE_CLAIM),
            Some("nonce"),
            self.profile.audience().map(|_| "aud"),
            role_claim,
        ];
        // A role claim that is also one of the others is read from its slot.
        let role_shares = role_claim.and_then(|r| wanted[..8].iter().position(|w| *w == Some(r)));
        if role_shares.is_some() {
            wanted[8] = None;
        }
        let (claims_json, claims) = checked_object(p, TokenCheck::Claims, "payload", wanted)
            .map_err(|e| if p.contains('.') { too_many() } else { e })?;
        let mut values = claims.values;
        let role = match role_shares {
            Some(i) => values[i].clone(),
            None => values[8].take(),
        };
        let [iss, exp, nbf, iat, ver, mock, nonce, aud, _] = values;
        // The token's nonces: its `nonce` claim, and the members named
        // `nonce` (any case) of `x-ms-runtime.client-payload`.
        let mut nonces = claims.payload_nonces;
        if let Some(Value::String(n)) = nonce {
            nonces.push(n);
        }
        if let Some(want) = &self.issuer {
            match iss.as_ref().and_then(Value::as_str) {
                Some(iss) if normalize_issuer(iss) == want => {}
                Some(iss) => {
                    return Err(MaaError::rejected(
                        TokenCheck::Issuer,
                        format!("iss {iss:?} is not {want:?}"),
                    ))
                }
                None => return Err(MaaError::rejected(TokenCheck::Issuer, "no `iss` claim")),
            }
        }
        if let Some(want) = self.profile.audience() {
            check_audience(aud.as_ref(), want)?;
        }
        let now = self.clock.now_unix();
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(300);
        let exp = time_claim(exp.as_ref(), "exp")?
            .ok_or_else(|| MaaError::rejected(TokenCheck::MissingExpiry, "no `exp` claim"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(MaaError::rejected(
                TokenCheck::Expired,
                format!("expired at {exp}; now is {now}"),
            ));
        }
        for (name, claim) in [("nbf", &nbf), ("iat", &iat)] {
            if let Some(t) = time_claim(claim.as_ref(), name)? {
                if now.saturating_add(leeway) < t {
                    return Err(MaaError::rejected(
                        TokenCheck::NotYetValid,
                        format!("`{name}` {t} is in the future; now is {now}"),
                    ));
                }
            }
        }
        if kid.is_none() && self.profile.requires_kid() {
            return Err(MaaError::rejected(
                TokenCheck::KeyId,
                "the token names no kid and the profile requires one",
            ));
        }
        Ok(Parsed {
            token,
            message,
            signature,
            alg,
            kid,
            header_json,
            claims_json,
            has_version: ver.as_ref().is_some_and(Value::is_string),
            mock: mock.as_ref().and_then(Value::as_bool) == Some(true),
            nonces,
            role,
        })
    }

    /// The signature, then the checks that only count for an authentic
    /// token (version, mock evidence, nonce, role).
    pub(super) fn finish(
        &self,
        parsed: Parsed<'_>,
        key: &ParsedPublicKey,
        expected_nonce: Option<&[u8]>,
    ) -> Result<AttestationToken, MaaError> {
        if key
            .verify_sig(parsed.message.as_bytes(), &parsed.signature)
            .is_err()
        {
            return Err(MaaError::rejected(
                TokenCheck::Signature,
                "the signature does not verify",
            ));
        }
        if !parsed.has_version && self.profile.requires_version() {
            return Err(MaaError::rejected(
                TokenCheck::Version,
                "no `x-ms-ver` claim",
            ));
        }
        if parsed.mock && !self.allow_mock && self.profile.checks_mock_evidence() {
            return Err(MaaError::rejected(
                TokenCheck::MockEvidence,
                "the token comes from mock evidence and mock roots are not trusted",
            ));
        }
        if let Some(expected) = expected_nonce {
            if parsed.nonces.is_empty() {
                return Err(MaaError::rejected(
                    TokenCheck::Nonce,
                    "the token carries no nonce",
                ));
            }
            if !parsed.nonces.iter().any(|n| nonce_matches(n, expected)) {
                return Err(MaaError::rejected(
                    TokenCheck::Nonce,
                    "the token's nonce is not the one expected",
                ));
            }
        }
        // Last, so that a refusal by it means an authentic token, valid
        // here, whose identity lacks the role (403, not 401).
        if let Some(role) = self.profile.role() {
            check_role(parsed.role.as_ref(), self.profile.role_claim(), role)?;
        }
        // Both parts were decoded and checked above (JSON objects, unique
        // names): hand their texts over, to be turned into values on use.
        Ok(AttestationToken::from_checked_parts(
            parsed.token,
            parsed.header_json,
            parsed.claims_json,
        ))
    }
}

/// What the key-less checks found.
pub(super) struct Parsed<'t> {
    /// The token without surrounding whitespace.
    token: &'t str,
    /// `header.payload`, the signed bytes.
    message: &'t str,
    signature: Vec<u8>,
    /// The header's `alg`, one the profile allows.
    pub(super) alg: Algorithm,
    pub(super) kid: Option<String>,
    header_json: Vec<u8>,
    claims_json: Vec<u8>,
    has_version: bool,
    mock: bool,
    /// The `nonce` claim and the client payload's nonces.
    nonces: Vec<String>,
    /// The role claim, when the profile requires a role.
    role: Option<Value>,
}

/// `aud` must be `want`, or an array with `want` among its strings.
fn check_audience(aud: Option<&Value>, want: &str) -> Result<(), MaaError> {
    let refused = |detail: String| Err(MaaError::rejected(TokenCheck::Audience, detail));
    match aud {
        None => refused("no `aud` claim".into()),
        Some(Value::String(a)) if a == want => Ok(()),
        Some(Value::Array(all)) if all.iter().any(|a| a.as_str() == Some(want)) => Ok(()),
        Some(Value::String(a)) => refused(format!("aud {a:?} is not {want:?}")),
        Some(Value::Array(_)) => refused(format!("aud does not contain {want:?}")),
        Some(_) => refused("aud is neither a string nor an array".into()),
    }
}

/// The role claim must grant `role`: an array with `role` among its
/// strings, or a string that is `role` or lists it (space-separated, as
/// OAuth scopes).
fn check_role(claim: Option<&Value>, name: &str, role: &str) -> Result<(), MaaError> {
    let refused = |detail: String| Err(MaaError::rejected(TokenCheck::Role, detail));
    match claim {
        None => refused(format!("no `{name}` claim")),
        Some(Value::String(s)) if s.split_ascii_whitespace().any(|r| r == role) => Ok(()),
        Some(Value::Array(all)) if all.iter().any(|r| r.as_str() == Some(role)) => Ok(()),
        Some(Value::String(_) | Value::Array(_)) => {
            refused(format!("`{name}` does not grant the role {role:?}"))
        }
        Some(_) => refused(format!("`{name}` is neither a string nor an array")),
    }
}

fn time_claim(claim: Option<&Value>, name: &str) -> Result<Option<i64>, MaaError> {
    match claim {
        None => Ok(None),
        Some(v) => {
            let t = v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64));
            let check = if name == "exp" {
                TokenCheck::MissingExpiry
            } else {
                TokenCheck::NotYetValid
            };
            t.map(Some)
                .ok_or_else(|| MaaError::rejected(check, format!("`{name}` is not a number")))
        }
    }
}

/// Whether a nonce claim matches the expected nonce: equal to it, to its
/// base64 (MAA returns `client-payload` values base64-encoded), or its
/// base64 decodes to one of those.
pub(super) fn nonce_matches(claim: &str, expected: &[u8]) -> bool {
    let std_b64 = b64::std(expected);
    let forms: [&[u8]; 2] = [expected, std_b64.as_bytes()];
    if forms.contains(&claim.as_bytes()) {
        return true;
    }
    b64::decode_any(claim).is_some_and(|d| forms.contains(&d.as_slice()))
}
