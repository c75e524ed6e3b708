//! Validation profiles: what a [`TokenValidator`](crate::TokenValidator)
//! requires of a token beyond the checks every profile shares (size,
//! format, strict JSON, `typ`, `crit`, issuer, expiry, key, signature,
//! nonce).
//!
//! - [`ValidationProfile::maa`] — attestation tokens of MAA or our
//!   verifier: RS256, `x-ms-ver` required, mock-evidence check, no
//!   audience, `kid` optional (a single-key JWKS needs none).
//! - [`ValidationProfile::admin`] — bearer access tokens of an Azure
//!   AD-style OpenID issuer: RS256, PS256 or ES256, `aud` must name the
//!   service, a role must be granted, `kid` required.
//!
//! An Intel Trust Authority profile is
//! `ValidationProfile::maa().with_algorithms(&[Algorithm::Ps384]).require_kid(true)`
//! with the version and mock checks set as its tokens need.

use std::fmt;
use std::str::FromStr;

use crate::MaaError;

/// A JWS signature algorithm the validator can verify (RFC 7518 §3). `none`
/// and the HMAC algorithms (`HS256`, …) are deliberately not among them: a
/// token naming them is always refused by [`TokenCheck::Algorithm`](crate::TokenCheck::Algorithm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA ≥ 2048 bits.
    Rs256,
    /// RSASSA-PSS with SHA-256 (MGF1 SHA-256, 32-byte salt), RSA ≥ 2048 bits.
    Ps256,
    /// RSASSA-PSS with SHA-384 (MGF1 SHA-384, 48-byte salt), RSA ≥ 2048 bits.
    Ps384,
    /// ECDSA on P-256 with SHA-256; the signature is `r || s`, 64 bytes.
    Es256,
}

impl Algorithm {
    /// Every algorithm, in declaration order.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Rs256,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Es256,
    ];

    /// The JWS name: `RS256`, `PS256`, `PS384`, `ES256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Es256 => "ES256",
        }
    }

    /// The algorithm with this JWS name (case-sensitive, as JWS names are),
    /// or `None` for any other name — including `none` and `HS256`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Algorithm::Rs256),
            "PS256" => Some(Algorithm::Ps256),
            "PS384" => Some(Algorithm::Ps384),
            "ES256" => Some(Algorithm::Es256),
            _ => None,
        }
    }

    /// The JWK `kty` of the keys that verify this algorithm: `RSA` or `EC`.
    pub const fn key_type(self) -> &'static str {
        match self {
            Algorithm::Rs256 | Algorithm::Ps256 | Algorithm::Ps384 => "RSA",
            Algorithm::Es256 => "EC",
        }
    }

    /// The position in [`Algorithm::ALL`].
    pub(crate) const fn index(self) -> usize {
        match self {
            Algorithm::Rs256 => 0,
            Algorithm::Ps256 => 1,
            Algorithm::Ps384 => 2,
            Algorithm::Es256 => 3,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = MaaError;

    /// [`Algorithm::from_name`], with code 8 for an unknown name.
    fn from_str(s: &str) -> Result<Self, MaaError> {
        Self::from_name(s).ok_or_else(|| {
            MaaError::InvalidInput(format!(
                "{s:?} is not a supported JWS algorithm (RS256, PS256, PS384, ES256)"
            ))
        })
    }
}

/// The claim that holds the roles granted to a token's identity, unless
/// [`ValidationProfile::with_role_claim`] names another.
pub const DEFAULT_ROLE_CLAIM: &str = "roles";

/// What a [`TokenValidator`](crate::TokenValidator) requires of a token
/// beyond the checks every profile shares. Start from
/// [`ValidationProfile::maa`] (the default) or [`ValidationProfile::admin`]
/// and adjust with the builders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationProfile {
    algorithms: Vec<Algorithm>,
    require_version: bool,
    check_mock: bool,
    audience: Option<String>,
    role: Option<String>,
    role_claim: String,
    require_kid: bool,
}

impl Default for ValidationProfile {
    /// [`ValidationProfile::maa`].
    fn default() -> Self {
        Self::maa()
    }
}

impl ValidationProfile {
    /// Attestation tokens of MAA or our verifier: `alg` RS256 only,
    /// `x-ms-ver` required, tokens from mock evidence refused unless the
    /// validator allows mocks, no audience, `kid` optional (without one, a
    /// single-key JWKS is used).
    pub fn maa() -> Self {
        Self {
            algorithms: vec![Algorithm::Rs256],
            require_version: true,
            check_mock: true,
            audience: None,
            role: None,
            role_claim: DEFAULT_ROLE_CLAIM.to_string(),
            require_kid: false,
        }
    }

    /// Bearer access tokens of an Azure AD-style OpenID issuer for an
    /// administrative API: `alg` RS256, PS256 or ES256; `aud` must be
    /// `audience` or an array containing it; `role` must be granted by the
    /// `roles` claim (an array of strings, or a string read as a
    /// space-separated list); `kid` required; no `x-ms-ver`, no
    /// mock-evidence check.
    pub fn admin(audience: impl Into<String>, role: impl Into<String>) -> Self {
        Self {
            algorithms: vec![Algorithm::Rs256, Algorithm::Ps256, Algorithm::Es256],
            require_version: false,
            check_mock: false,
            audience: Some(audience.into()),
            role: Some(role.into()),
            role_claim: DEFAULT_ROLE_CLAIM.to_string(),
            require_kid: true,
        }
    }

    /// Reads the granted roles from `claim` instead of `roles` (an array of
    /// strings, or a string read as a space-separated list, as `scp`).
    #[must_use]
    pub fn with_role_claim(mut self, claim: &str) -> Self {
        self.role_claim = claim.to_string();
        self
    }

    /// Accepts exactly these algorithms (duplicates ignored). With none,
    /// every token is refused by the `algorithm` check.
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms.clear();
        for a in algorithms {
            if !self.algorithms.contains(a) {
                self.algorithms.push(*a);
            }
        }
        self
    }

    /// Whether a token must name its key (`kid`); without one, a token is
    /// refused by the `kid` check. When not required, a token without a
    /// `kid` is checked with the JWKS's only key, if it has exactly one.
    #[must_use]
    pub fn require_kid(mut self, required: bool) -> Self {
        self.require_kid = required;
        self
    }

    /// Whether the `x-ms-ver` claim is required (the `x-ms-ver` check).
    #[must_use]
    pub fn require_version(mut self, required: bool) -> Self {
        self.require_version = required;
        self
    }

    /// Whether tokens from mock evidence are refused unless the validator
    /// allows mocks (the `mock-evidence` check).
    #[must_use]
    pub fn check_mock_evidence(mut self, check: bool) -> Self {
        self.check_mock = check;
        self
    }

    /// Requires `aud` to be `audience` or an array containing it.
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Requires the role claim to grant `role`.
    #[must_use]
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// The algorithms accepted, in the order given.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// Whether `alg` is accepted.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }

    /// The audience `aud` must name, if any.
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The role that must be granted, if any.
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }

    /// The claim the roles are read from (default [`DEFAULT_ROLE_CLAIM`]).
    pub fn role_claim(&self) -> &str {
        &self.role_claim
    }

    /// Whether tokens must carry a `kid`.
    pub fn requires_kid(&self) -> bool {
        self.require_kid
    }

    /// Whether `x-ms-ver` is required.
    pub fn requires_version(&self) -> bool {
        self.require_version
    }

    /// Whether the mock-evidence check applies.
    pub fn checks_mock_evidence(&self) -> bool {
        self.check_mock
    }

    /// The accepted algorithms' names, comma-separated (for messages).
    pub(crate) fn algorithm_list(&self) -> String {
        if self.algorithms.is_empty() {
            return "none".to_string();
        }
        self.algorithms
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tee_attest_core::CodedError;

    #[test]
    fn names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.as_str()), Some(a));
            assert_eq!(a.as_str().parse::<Algorithm>().unwrap(), a);
            assert_eq!(Algorithm::ALL[a.index()], a);
        }
        for bad in ["none", "HS256", "rs256", "RS384", "ES384", ""] {
            assert_eq!(Algorithm::from_name(bad), None, "{bad}");
        }
        assert_eq!("HS256".parse::<Algorithm>().unwrap_err().code().number(), 8);
    }

    #[test]
    fn profiles() {
        let maa = ValidationProfile::maa();
        assert_eq!(maa, ValidationProfile::default());
        assert_eq!(maa.algorithms(), [Algorithm::Rs256]);
        assert!(maa.requires_version() && maa.checks_mock_evidence() && !maa.requires_kid());
        assert_eq!((maa.audience(), maa.role()), (None, None));
        let admin = ValidationProfile::admin("api://svc", "Admin").with_role_claim("groups");
        assert_eq!(
            admin.algorithms(),
            [Algorithm::Rs256, Algorithm::Ps256, Algorithm::Es256]
        );
        assert_eq!(admin.audience(), Some("api://svc"));
        assert_eq!(admin.role(), Some("Admin"));
        assert_eq!(admin.role_claim(), "groups");
        assert!(admin.requires_kid() && !admin.requires_version() && !admin.checks_mock_evidence());
        let ita = ValidationProfile::maa()
            .with_algorithms(&[Algorithm::Ps384, Algorithm::Ps384])
            .require_kid(true);
        assert_eq!(ita.algorithms(), [Algorithm::Ps384]);
        assert!(ita.allows(Algorithm::Ps384) && !ita.allows(Algorithm::Rs256));
        assert_eq!(ita.algorithm_list(), "PS384");
        assert_eq!(admin.algorithm_list(), "RS256, PS256, ES256");
    }
}
