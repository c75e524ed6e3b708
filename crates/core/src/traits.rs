//! The three roles: who gathers evidence, who appraises it, who releases keys.

use std::sync::Arc;

use async_trait::async_trait;
use zeroize::Zeroizing;

use std::collections::BTreeMap;

use crate::{
    AttestationToken, Error, ErrorCode, Evidence, EvidenceRequest, EvidenceType, Result, TeeId,
};

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

/// The error of `Decrypt` on a TEE without a vTPM ephemeral key (code 1).
pub fn decrypt_not_supported(tee: TeeId) -> Error {
    Error::new(
        ErrorCode::InitializationFailed,
        format!("Decrypt is not supported on this TEE ({tee}): it has no vTPM ephemeral key"),
    )
}

/// Gathers evidence inside a TEE.
///
/// An implementation guarantees:
/// - the evidence is fresh and binds the request's nonce and report data
///   (exactly the 64 bytes the verifier's [`Challenge`] asked for) so that
///   a verifier can tell replayed evidence;
/// - it never returns partial evidence: either all parts it promises for its
///   evidence type, or an error with a code (12/13 for device and TPM
///   failures, 20/21 for report problems, 7/4/17 for collateral);
/// - it does not reach the network except the platform's own endpoints
///   (e.g. Azure IMDS), and only at base URLs the caller can configure.
#[async_trait]
pub trait EvidenceProvider: Send + Sync {
    /// Which backend this provider belongs to.
    fn tee(&self) -> TeeId;

    /// The evidence type it gathers.
    fn evidence_type(&self) -> EvidenceType;

    /// Gather fresh evidence bound to `request`.
    async fn evidence(&self, request: &EvidenceRequest) -> Result<Evidence>;

    /// The ephemeral key whose public part the evidence carries (a vTPM's):
    /// made once and shared with the evidence, so that `Decrypt` opens what
    /// the token's key sealed. A TEE without a vTPM has none: code 1
    /// ([`decrypt_not_supported`]); a TPM failure keeps its code (12/13).
    fn decryptor(&self) -> Result<Arc<dyn Decryptor>> {
        Err(decrypt_not_supported(self.tee()))
    }
}

/// What the verifier asks the evidence to bind, decided before the evidence
/// is gathered ([`Verifier::challenge`]): each verifier binds its own way
/// (MAA: SHA-256 of the runtime data; Intel Trust Authority: SHA-512 of its
/// own nonce and the runtime data), and providers embed exactly what they
/// are given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Challenge {
    /// The nonce the evidence binds (a vTPM quote's qualifying data) and
    /// the verifier expects back.
    pub nonce: Vec<u8>,
    /// The runtime data to send beside the evidence.
    pub runtime_data: Vec<u8>,
    /// Whether `runtime_data` is JSON.
    pub runtime_data_json: bool,
    /// The 64 bytes of report data (or HCL user data) to embed.
    pub report_data: [u8; 64],
}

impl Challenge {
    /// A challenge of these parts.
    pub fn new(
        nonce: Vec<u8>,
        runtime_data: Vec<u8>,
        runtime_data_json: bool,
        report_data: [u8; 64],
    ) -> Self {
        Self {
            nonce,
            runtime_data,
            runtime_data_json,
            report_data,
        }
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

    /// What evidence of `evidence_type` must bind for this verifier, given
    /// the caller's `nonce` and client payload (which may reach the
    /// verifier first, e.g. to fetch its own nonce).
    async fn challenge(
        &self,
        evidence_type: EvidenceType,
        nonce: &[u8],
        client_payload: &BTreeMap<String, String>,
    ) -> Result<Challenge>;

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

    // The traits must stay object-safe: these boxes must compile.
    struct Nothing;

    const NOTHING: TeeId = TeeId::new("nothing");
    const BARE: EvidenceType = EvidenceType::new("Nothing", None);

    #[async_trait]
    impl EvidenceProvider for Nothing {
        fn tee(&self) -> TeeId {
            NOTHING
        }
        fn evidence_type(&self) -> EvidenceType {
            BARE
        }
        async fn evidence(&self, request: &EvidenceRequest) -> Result<Evidence> {
            let mut e = Evidence::new(NOTHING, BARE);
            e.nonce = request.nonce.clone();
            Ok(e)
        }
    }

    #[async_trait]
    impl Verifier for Nothing {
        fn name(&self) -> &str {
            "nothing"
        }
        async fn challenge(
            &self,
            _: EvidenceType,
            nonce: &[u8],
            _: &BTreeMap<String, String>,
        ) -> Result<Challenge> {
            Ok(Challenge::new(nonce.to_vec(), Vec::new(), false, [0; 64]))
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
        let no_key = p.decryptor().err().unwrap();
        assert_eq!(no_key.code(), ErrorCode::InitializationFailed);
        assert!(no_key
            .message()
            .contains("not supported on this TEE (nothing)"));
        let c = v.challenge(BARE, b"n", &BTreeMap::new()).await.unwrap();
        assert_eq!(c.nonce, b"n");
        let err = v.verify(&e, &VerifyOptions::default()).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::AttestationFailed);
    }
}
