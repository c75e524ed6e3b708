//! The three roles: who gathers evidence, who appraises it, who releases keys.

use std::sync::Arc;

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::{AttestationToken, Evidence, EvidenceRequest, Result, TeeKind};

/// An RSA decryption scheme for the ephemeral key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RsaDecryptScheme {
    /// RSA-OAEP with SHA-256 (MGF1-SHA-256, empty label).
    OaepSha256,
    /// RSA-OAEP with SHA-1 (MGF1-SHA-1, empty label).
    OaepSha1,
    /// RSA-OAEP with SHA-384 (MGF1-SHA-384, empty label): Key Vault's
    /// `RSA_AES_KEY_WRAP_384`.
    OaepSha384,
    /// RSAES-PKCS1-v1_5 (what MAA uses to seal the inner key; Microsoft's
    /// `EncryptionType::NONE` default).
    Pkcs1v15,
    /// Raw RSA without padding (`TPM_ALG_NULL`, Microsoft's `RsaNull`): the
    /// ciphertext must be exactly the modulus size and the plaintext is the
    /// whole modulus-sized block. Textbook RSA: for interoperability only.
    Raw,
}

/// A private key that never leaves its TEE: it decrypts on request.
///
/// Implementations guarantee that the private part is never exported, that
/// errors never carry plaintext, and that the plaintext is returned in a
/// zeroizing buffer.
#[async_trait]
pub trait Decryptor: Send + Sync {
    /// The public part as an RSA JWK (`kty`, `n`, `e`).
    fn public_jwk(&self) -> serde_json::Value;

    /// Decrypt `ciphertext` with the private key. A TPM failure is code 26.
    async fn decrypt(
        &self,
        scheme: RsaDecryptScheme,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>>;
}

/// Gathers evidence inside a TEE.
///
/// An implementation guarantees:
/// - the evidence is fresh and binds the request's nonce (and runtime data)
///   so that a verifier can tell replayed evidence;
/// - it never returns partial evidence: either all parts it promises for its
///   [`TeeKind`], or an error with a code (12/13 for TPM failures, 20/21 for
///   report problems, 7/4/17 for collateral);
/// - it does not reach the network except the platform's own endpoints
///   (e.g. Azure IMDS), and only at base URLs the caller can configure.
#[async_trait]
pub trait EvidenceProvider: Send + Sync {
    /// Which TEE this provider gathers evidence from.
    fn tee(&self) -> TeeKind;

    /// Gather fresh evidence bound to `request`.
    async fn evidence(&self, request: &EvidenceRequest) -> Result<Evidence>;

    /// The ephemeral key whose public part the evidence carries, if this TEE
    /// has one (a vTPM). `Decrypt` uses it.
    fn decryptor(&self) -> Option<Arc<dyn Decryptor>> {
        None
    }
}

/// What a verifier is asked to check besides the evidence itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// The nonce the evidence must bind, if the caller chose one.
    pub nonce: Option<Vec<u8>>,
    /// A draft policy (policy text) to evaluate instead of the configured
    /// one, where the verifier supports it.
    pub draft_policy: Option<String>,
}

/// Appraises evidence and returns a signed token.
///
/// An implementation guarantees:
/// - it returns a token only if every check passed and the policy
///   authorised the evidence; a failed check is code 6, naming the check;
/// - the token's claims describe the evidence appraised, never invented
///   values;
/// - evidence rooted in mock roots is refused unless the verifier was
///   configured to trust them, and a token from mock evidence says so.
#[async_trait]
pub trait Verifier: Send + Sync {
    /// A short name for logs (`local`, `maa`, `ita`).
    fn name(&self) -> &str;

    /// Appraise `evidence` and return the token.
    async fn verify(
        &self,
        evidence: &Evidence,
        options: &VerifyOptions,
    ) -> Result<AttestationToken>;
}

/// A request to release a key to an attested TEE.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyReleaseRequest {
    /// The key's name.
    pub name: String,
    /// The key's version; `None` for the current one.
    pub version: Option<String>,
    /// The wrapping algorithm (`CKM_RSA_AES_KEY_WRAP`, `RSA_AES_KEY_WRAP_256`,
    /// `RSA_AES_KEY_WRAP_384`).
    pub enc: String,
    /// A nonce for the release, returned in its response.
    pub nonce: Option<String>,
}

impl KeyReleaseRequest {
    /// A request for the current version of `name`, wrapped with `enc`.
    pub fn new(name: impl Into<String>, enc: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: None,
            enc: enc.into(),
            nonce: None,
        }
    }
}

/// A released key, still wrapped to the token's ephemeral key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReleasedKey {
    /// The key's identifier (name/version).
    pub kid: String,
    /// The signed release response (a JWS), as the broker returned it.
    pub response: String,
}

impl ReleasedKey {
    /// A released key.
    pub fn new(kid: impl Into<String>, response: impl Into<String>) -> Self {
        Self {
            kid: kid.into(),
            response: response.into(),
        }
    }
}

/// Releases keys to attested TEEs, wrapped to the token's ephemeral key.
///
/// An implementation guarantees that it releases nothing unless the token
/// validates and the key's release policy holds for its claims, that a
/// refusal says which condition failed and nothing more, and that key
/// material leaves it only wrapped to the token's ephemeral key.
#[async_trait]
pub trait KeyBroker: Send + Sync {
    /// Release the key `request` names to the holder of `token`.
    async fn release(
        &self,
        token: &AttestationToken,
        request: &KeyReleaseRequest,
    ) -> Result<ReleasedKey>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, ErrorCode};

    // The traits must stay object-safe: these boxes must compile.
    struct Nothing;

    #[async_trait]
    impl EvidenceProvider for Nothing {
        fn tee(&self) -> TeeKind {
            TeeKind::Mock
        }
        async fn evidence(&self, request: &EvidenceRequest) -> Result<Evidence> {
            let mut e = Evidence::new(TeeKind::Mock);
            e.nonce = request.nonce.clone();
            Ok(e)
        }
    }

    #[async_trait]
    impl Verifier for Nothing {
        fn name(&self) -> &str {
            "nothing"
        }
        async fn verify(&self, _: &Evidence, _: &VerifyOptions) -> Result<AttestationToken> {
            Err(Error::new(
                ErrorCode::AttestationFailed,
                "refuses everything",
            ))
        }
    }

    #[tokio::test]
    async fn traits_are_object_safe() {
        let p: Box<dyn EvidenceProvider> = Box::new(Nothing);
        let v: Box<dyn Verifier> = Box::new(Nothing);
        let e = p
            .evidence(&EvidenceRequest::with_nonce(*b"n"))
            .await
            .unwrap();
        assert_eq!(e.nonce, b"n");
        assert!(p.decryptor().is_none());
        let err = v.verify(&e, &VerifyOptions::default()).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::AttestationFailed);
    }
}
