//! Throwaway certificates for tests: RSA signing certificates (policy
//! signers) and a test CA issuing loopback TLS server certificates.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};

/// A key and its certificate, PEM and DER.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
}

fn rsa_key() -> rcgen::KeyPair {
    let key = KeyPair::generate(KeySize::Rsa2048).expect("an RSA-2048 key");
    let der: Pkcs8V1Der<'_> = key.as_der().expect("PKCS#8");
    rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &der.as_ref().to_vec().into(),
        &rcgen::PKCS_RSA_SHA256,
    )
    .expect("rcgen key")
}

/// A self-signed RSA-2048 certificate named `cn` (a policy signer).
pub fn rsa_self_signed(cn: &str) -> Issued {
    let key = rsa_key();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).expect("certificate");
    Issued {
        key_pem: key.serialize_pem(),
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
    }
}

/// A test CA (ECDSA P-256) that issues TLS server certificates for
/// loopback.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// The CA certificate, PEM (give it to clients as their trust anchor).
    pub cert_pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA named `cn`.
    pub fn new(cn: &str) -> Self {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let cert = params.self_signed(&key).expect("CA certificate");
        let cert_pem = cert.pem();
        let issuer_key = rcgen::KeyPair::from_pem(&key.serialize_pem()).expect("CA key again");
        let issuer = rcgen::Issuer::new(params, issuer_key);
        Self { issuer, cert_pem }
    }

    /// A server certificate for `127.0.0.1` and `localhost`.
    pub fn issue_server(&self) -> Issued {
        let key = rcgen::KeyPair::generate().expect("server key");
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("params");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        Issued {
            key_pem: key.serialize_pem(),
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
        }
    }
}
