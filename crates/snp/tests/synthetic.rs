//! A small AMD-like PKI made here (ARK → ASK → VCEK/VLEK, keys from
//! aws-lc-rs, certificates with `x509-cert`), to reach the checks that the
//! real vectors cannot: TCB and hwID mismatches, committed > current,
//! Turin's TCB layout, VLEK hwID, extra roots, CRLs that are genuine and
//! that list a certificate.

use std::str::FromStr;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ECDSA_P384_SHA384_FIXED_SIGNING, RSA_PSS_SHA384,
};
use der::asn1::{BitString, ObjectIdentifier, OctetString, UtcTime};
use der::{Any, Encode};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

use tee_attest_snp::{
    offsets, AttestationReport, Check, CrlStatus, Product, RootOrigin, SigningKey, SnpOptions,
    SnpVerifier, TcbVersion, TrustAnchors, REPORT_LEN, SIGNED_LEN,
};

const PSS: &str = "1.2.840.113549.1.1.10";
const RSA: &str = "1.2.840.113549.1.1.1";
const EC: &str = "1.2.840.10045.2.1";
const P384: &str = "1.3.132.0.34";
const NOW: u64 = 1_750_000_000; // 2025-06-15
const YEAR: u64 = 365 * 86_400;

fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

fn time(secs: u64) -> Time {
    Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(secs)).unwrap())
}

fn pss() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oid(PSS),
        parameters: None,
    }
}

fn sign_rsa(key: &RsaKeyPair, msg: &[u8]) -> Vec<u8> {
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&RSA_PSS_SHA384, &SystemRandom::new(), msg, &mut sig)
        .unwrap();
    sig
}

fn int_ext(id: &str, v: u8) -> Extension {
    let value = der::asn1::Uint::new(&[v]).unwrap().to_der().unwrap();
    Extension {
        extn_id: oid(id),
        critical: false,
        extn_value: OctetString::new(value).unwrap(),
    }
}

fn raw_ext(id: &str, v: Vec<u8>) -> Extension {
    Extension {
        extn_id: oid(id),
        critical: false,
        extn_value: OctetString::new(v).unwrap(),
    }
}

struct Signed {
    der: Vec<u8>,
    serial: SerialNumber,
}

#[allow(clippy::too_many_arguments)]
fn certificate(
    serial: u8,
    issuer: &Name,
    subject: &Name,
    spki: SubjectPublicKeyInfoOwned,
    exts: Vec<Extension>,
    validity: (u64, u64),
    signer: &RsaKeyPair,
) -> Signed {
    let serial = SerialNumber::new(&[serial]).unwrap();
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: serial.clone(),
        signature: pss(),
        issuer: issuer.clone(),
        validity: Validity {
            not_before: time(validity.0),
            not_after: time(validity.1),
        },
        subject: subject.clone(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: (!exts.is_empty()).then_some(exts),
    };
    let sig = sign_rsa(signer, &tbs.to_der().unwrap());
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: pss(),
        signature: BitString::from_bytes(&sig).unwrap(),
    };
    Signed {
        der: cert.to_der().unwrap(),
        serial,
    }
}

fn rsa_spki(key: &RsaKeyPair) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: oid(RSA),
            parameters: Some(Any::from(der::asn1::Null)),
        },
        subject_public_key: BitString::from_bytes(key.public_key().as_ref()).unwrap(),
    }
}

fn ec_spki(key: &EcdsaKeyPair) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: oid(EC),
            parameters: Some(Any::encode_from(&oid(P384)).unwrap()),
        },
        subject_public_key: BitString::from_bytes(key.public_key().as_ref()).unwrap(),
    }
}

/// What the leaf certificate says.
#[derive(Clone)]
struct LeafSpec {
    vlek: bool,
    tcb: TcbVersion,
    hwid: Option<Vec<u8>>,
    validity: (u64, u64),
}

struct Pki {
    ark: RsaKeyPair,
    ark_name: Name,
    ark_der: Vec<u8>,
    ask_der: Vec<u8>,
    ask_serial: SerialNumber,
    leaf_der: Vec<u8>,
    leaf_serial: SerialNumber,
    leaf_key: EcdsaKeyPair,
}

fn pki(product: Product, leaf: &LeafSpec) -> Pki {
    let p = product.name();
    let ark = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let ask = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let leaf_key = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let ark_name = Name::from_str(&format!("CN=ARK-{p},O=Mock Micro Devices")).unwrap();
    let ask_name = if leaf.vlek {
        Name::from_str(&format!("CN=SEV-VLEK-{p},O=Mock Micro Devices")).unwrap()
    } else {
        Name::from_str(&format!("CN=SEV-{p},O=Mock Micro Devices")).unwrap()
    };
    let leaf_name = Name::from_str(if leaf.vlek {
        "CN=SEV-VLEK,O=Mock Micro Devices"
    } else {
        "CN=SEV-VCEK,O=Mock Micro Devices"
    })
    .unwrap();
    let long = (NOW - YEAR, NOW + 10 * YEAR);
    let ark_c = certificate(1, &ark_name, &ark_name, rsa_spki(&ark), vec![], long, &ark);
    let ask_c = certificate(2, &ark_name, &ask_name, rsa_spki(&ask), vec![], long, &ark);
    let base = "1.3.6.1.4.1.3704.1.";
    let mut exts = vec![
        int_ext(&format!("{base}1"), 0),
        raw_ext(&format!("{base}2"), {
            let mut v = vec![0x16, p.len() as u8];
            v.extend_from_slice(p.as_bytes());
            v
        }),
        int_ext(&format!("{base}3.1"), leaf.tcb.bootloader),
        int_ext(&format!("{base}3.2"), leaf.tcb.tee),
        int_ext(&format!("{base}3.3"), leaf.tcb.snp),
        int_ext(&format!("{base}3.8"), leaf.tcb.microcode),
    ];
    if let Some(f) = leaf.tcb.fmc {
        exts.push(int_ext(&format!("{base}3.9"), f));
    }
    if let Some(h) = &leaf.hwid {
        exts.push(raw_ext(&format!("{base}4"), h.clone()));
    }
    if leaf.vlek {
        exts.push(raw_ext(
            &format!("{base}5"),
            b"\x16\x0bCN=cloud-42".to_vec(),
        ));
    }
    let leaf_c = certificate(
        3,
        &ask_name,
        &leaf_name,
        ec_spki(&leaf_key),
        exts,
        leaf.validity,
        &ask,
    );
    Pki {
        ark,
        ark_name,
        ark_der: ark_c.der,
        ask_der: ask_c.der,
        ask_serial: ask_c.serial,
        leaf_der: leaf_c.der,
        leaf_serial: leaf_c.serial,
        leaf_key,
    }
}

impl Pki {
    fn anchors(&self) -> TrustAnchors {
        TrustAnchors::amd().with_extra_root(&self.ark_der).unwrap()
    }

    fn chain(&self) -> Vec<Vec<u8>> {
        vec![
            self.leaf_der.clone(),
            self.ask_der.clone(),
            self.ark_der.clone(),
        ]
    }

    fn crl(&self, revoked: &[&SerialNumber], next_update: u64) -> Vec<u8> {
        let tbs = TbsCertList {
            version: Version::V2,
            signature: pss(),
            issuer: self.ark_name.clone(),
            this_update: time(NOW - 86_400),
            next_update: Some(time(next_update)),
            revoked_certificates: (!revoked.is_empty()).then(|| {
                revoked
                    .iter()
                    .map(|s| RevokedCert {
                        serial_number: (*s).clone(),
                        revocation_date: time(NOW - 86_400),
                        crl_entry_extensions: None,
                    })
                    .collect()
            }),
            crl_extensions: None,
        };
        let sig = sign_rsa(&self.ark, &tbs.to_der().unwrap());
        CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: pss(),
            signature: BitString::from_bytes(&sig).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    /// A report signed by the leaf.
    fn report(&self, r: &ReportSpec) -> Vec<u8> {
        let mut b = vec![0u8; REPORT_LEN];
        b[offsets::VERSION..offsets::VERSION + 4].copy_from_slice(&r.version.to_le_bytes());
        b[offsets::POLICY..offsets::POLICY + 8].copy_from_slice(&r.policy.to_le_bytes());
        b[offsets::VMPL] = r.vmpl;
        b[offsets::SIGNATURE_ALGO] = 1;
        b[offsets::SIGNER_INFO] = r.signer_info;
        let put =
            |b: &mut Vec<u8>, off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
        put(&mut b, offsets::CURRENT_TCB, r.current.to_raw(r.product));
        put(&mut b, offsets::REPORTED_TCB, r.reported.to_raw(r.product));
        put(
            &mut b,
            offsets::COMMITTED_TCB,
            r.committed.to_raw(r.product),
        );
        put(&mut b, offsets::LAUNCH_TCB, r.committed.to_raw(r.product));
        if r.version >= 3 {
            let (fam, model) = match r.product {
                Product::Milan => (0x19, 0x01),
                Product::Genoa => (0x19, 0x11),
                Product::Turin => (0x1A, 0x02),
            };
            b[offsets::CPUID_FAM_ID] = fam;
            b[offsets::CPUID_MOD_ID] = model;
        }
        b[offsets::CHIP_ID..offsets::CHIP_ID + 64].copy_from_slice(&r.chip_id);
        b[offsets::REPORT_DATA] = 0x42;
        let sig = self
            .leaf_key
            .sign(&SystemRandom::new(), &b[..SIGNED_LEN])
            .unwrap();
        AttestationReport::write_signature(&mut b, sig.as_ref()).unwrap();
        b
    }
}

#[derive(Clone)]
struct ReportSpec {
    product: Product,
    version: u32,
    policy: u64,
    vmpl: u8,
    signer_info: u8,
    current: TcbVersion,
    reported: TcbVersion,
    committed: TcbVersion,
    chip_id: [u8; 64],
}

fn milan_tcb() -> TcbVersion {
    TcbVersion {
        fmc: None,
        bootloader: 4,
        tee: 0,
        snp: 24,
        microcode: 219,
    }
}

fn chip() -> [u8; 64] {
    let mut c = [0u8; 64];
    for (i, x) in c.iter_mut().enumerate() {
        *x = i as u8 ^ 0xA5;
    }
    c
}

fn milan_leaf() -> LeafSpec {
    LeafSpec {
        vlek: false,
        tcb: milan_tcb(),
        hwid: Some(chip().to_vec()),
        validity: (NOW - YEAR, NOW + 7 * YEAR),
    }
}

fn milan_report() -> ReportSpec {
    ReportSpec {
        product: Product::Milan,
        version: 3,
        policy: 0x30000,
        vmpl: 0,
        signer_info: 0,
        current: milan_tcb(),
        reported: milan_tcb(),
        committed: milan_tcb(),
        chip_id: chip(),
    }
}

fn verify(
    pki: &Pki,
    report: &[u8],
    opts: &SnpOptions,
) -> Result<tee_attest_snp::SnpVerified, tee_attest_snp::SnpError> {
    SnpVerifier::new(pki.anchors())
        .without_cache()
        .verify(report, &pki.chain(), opts)
}

fn at() -> SnpOptions {
    SnpOptions::at(NOW)
}

#[test]
fn a_mock_chain_verifies_only_as_an_extra_root() {
    let pki = pki(Product::Milan, &milan_leaf());
    let report = pki.report(&milan_report());
    let v = verify(&pki, &report, &at()).unwrap();
    assert_eq!(v.root, RootOrigin::Extra);
    assert!(v.hwid_checked);
    assert_eq!(v.claims()["x-tee-attest-snp-root"], "extra");
    // Never by default.
    let err = SnpVerifier::new(TrustAnchors::amd())
        .verify(&report, &pki.chain(), &at())
        .unwrap_err();
    assert_eq!(err.check(), Some(Check::UntrustedRoot), "{err}");
    // Nor without the carried ARK.
    let err = SnpVerifier::new(TrustAnchors::amd())
        .verify(&report, &pki.chain()[..2], &at())
        .unwrap_err();
    assert_eq!(err.check(), Some(Check::UntrustedRoot), "{err}");
}

#[test]
fn each_tcb_component_is_compared() {
    let pki = pki(Product::Milan, &milan_leaf());
    for (name, f) in [
        (
            "bootloader",
            (|t: &mut TcbVersion| t.bootloader += 1) as fn(&mut TcbVersion),
        ),
        ("tee", |t| t.tee += 1),
        ("snp", |t| t.snp += 1),
        ("microcode", |t| t.microcode -= 1),
    ] {
        let mut r = milan_report();
        f(&mut r.reported);
        let err = verify(&pki, &pki.report(&r), &at()).unwrap_err();
        assert_eq!(err.check(), Some(Check::Tcb), "{name}: {err}");
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
}

#[test]
fn committed_above_current_is_refused() {
    let pki = pki(Product::Milan, &milan_leaf());
    let mut r = milan_report();
    r.committed.snp += 1;
    let err = verify(&pki, &pki.report(&r), &at()).unwrap_err();
    assert_eq!(err.check(), Some(Check::CommittedTcb), "{err}");
}

#[test]
fn hwid_must_be_the_chip_id_unless_masked() {
    let pki = pki(Product::Milan, &milan_leaf());
    let mut r = milan_report();
    r.chip_id[63] ^= 1;
    let err = verify(&pki, &pki.report(&r), &at()).unwrap_err();
    assert_eq!(err.check(), Some(Check::HwId), "{err}");
    // Masked (MASK_CHIP_ID and a zero chip id): not compared, and said so.
    r.chip_id = [0; 64];
    r.signer_info = 0b10;
    let v = verify(&pki, &pki.report(&r), &at()).unwrap();
    assert!(!v.hwid_checked);
    assert_eq!(v.claims()["x-tee-attest-snp-chip-id-masked"], true);
}

#[test]
fn turin_uses_its_own_tcb_layout_and_8_byte_hwid() {
    let tcb = TcbVersion {
        fmc: Some(1),
        bootloader: 2,
        tee: 3,
        snp: 4,
        microcode: 9,
    };
    let mut chip = [0u8; 64];
    chip[..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let leaf = LeafSpec {
        tcb,
        hwid: Some(chip[..8].to_vec()),
        ..milan_leaf()
    };
    let pki = pki(Product::Turin, &leaf);
    let mut r = milan_report();
    r.product = Product::Turin;
    r.current = tcb;
    r.reported = tcb;
    r.committed = tcb;
    r.chip_id = chip;
    let v = verify(&pki, &pki.report(&r), &at()).unwrap();
    assert_eq!(v.product, Product::Turin);
    assert_eq!(v.reported_tcb, tcb);
    assert_eq!(v.claims()["x-tee-attest-snp-fmc-svn"], 1);
    assert_eq!(v.maa_claims()["x-ms-sevsnpvm-bootloader-svn"], 2);
    // The FMC is compared too.
    let mut r2 = r.clone();
    r2.reported.fmc = Some(2);
    r2.current.fmc = Some(2);
    let err = verify(&pki, &pki.report(&r2), &at()).unwrap_err();
    assert_eq!(err.check(), Some(Check::Tcb), "{err}");
    assert!(err.to_string().contains("fmc"), "{err}");
    // A Milan VCEK for a Turin report: product mismatch.
    let milan = self::pki(Product::Milan, &milan_leaf());
    let err = verify(&milan, &milan.report(&r), &at()).unwrap_err();
    assert_eq!(err.check(), Some(Check::Product), "{err}");
}

#[test]
fn vlek_must_not_carry_an_hwid() {
    let leaf = LeafSpec {
        vlek: true,
        ..milan_leaf()
    };
    let pki = pki(Product::Milan, &leaf);
    let mut r = milan_report();
    r.signer_info = 1 << 2;
    let err = verify(&pki, &pki.report(&r), &at()).unwrap_err();
    assert_eq!(err.check(), Some(Check::VlekHwId), "{err}");
    let leaf = LeafSpec {
        vlek: true,
        hwid: None,
        ..milan_leaf()
    };
    let pki = self::pki(Product::Milan, &leaf);
    let v = verify(&pki, &pki.report(&r), &at()).unwrap();
    assert_eq!(v.signer, SigningKey::Vlek);
}

#[test]
fn a_genuine_crl_is_checked_and_revocations_refused() {
    let pki = pki(Product::Milan, &milan_leaf());
    let report = pki.report(&milan_report());
    let mut opts = at();
    opts.crls = vec![pki.crl(&[], NOW + YEAR)];
    let v = verify(&pki, &report, &opts).unwrap();
    assert_eq!(v.crl, CrlStatus::Checked);
    assert_eq!(v.claims()["x-tee-attest-snp-crl"], "checked");

    opts.crls = vec![pki.crl(&[&pki.leaf_serial], NOW + YEAR)];
    let err = verify(&pki, &report, &opts).unwrap_err();
    assert_eq!(err.check(), Some(Check::Revoked), "{err}");
    assert!(err.to_string().contains("VCEK"), "{err}");

    opts.crls = vec![pki.crl(&[&pki.ask_serial], NOW + YEAR)];
    let err = verify(&pki, &report, &opts).unwrap_err();
    assert_eq!(err.check(), Some(Check::Revoked), "{err}");
    assert!(err.to_string().contains("ASK"), "{err}");

    // Out of date.
    opts.crls = vec![pki.crl(&[], NOW - 10)];
    let err = verify(&pki, &report, &opts).unwrap_err();
    assert_eq!(err.check(), Some(Check::Crl), "{err}");

    // Revocation is checked on the warm path too.
    let v = SnpVerifier::new(pki.anchors());
    v.verify(&report, &pki.chain(), &at()).unwrap();
    opts.crls = vec![pki.crl(&[&pki.leaf_serial], NOW + YEAR)];
    let err = v.verify(&report, &pki.chain(), &opts).unwrap_err();
    assert_eq!(err.check(), Some(Check::Revoked), "{err}");
    // … also when the CRL comes among the certificates.
    let mut certs = pki.chain();
    certs.push(pki.crl(&[&pki.leaf_serial], NOW + YEAR));
    let err = v.verify(&report, &certs, &at()).unwrap_err();
    assert!(v.verify(&report, &pki.chain(), &at()).unwrap().chain_cached);
    assert_eq!(err.check(), Some(Check::Revoked), "{err}");
}

#[test]
fn leaf_validity_and_policy_expectations() {
    let leaf = LeafSpec {
        validity: (NOW + 100, NOW + YEAR),
        ..milan_leaf()
    };
    let pki = pki(Product::Milan, &leaf);
    let err = verify(&pki, &pki.report(&milan_report()), &at()).unwrap_err();
    assert_eq!(err.check(), Some(Check::NotYetValid), "{err}");

    let pki = self::pki(Product::Milan, &milan_leaf());
    let mut r = milan_report();
    r.policy |= 1 << 19 | 1 << 18;
    r.vmpl = 2;
    let report = pki.report(&r);
    let v = verify(&pki, &report, &at()).unwrap();
    assert_eq!(v.maa_claims()["x-ms-sevsnpvm-is-debuggable"], true);
    assert_eq!(v.maa_claims()["x-ms-sevsnpvm-migration-allowed"], true);
    assert_eq!(v.maa_claims()["x-ms-sevsnpvm-vmpl"], 2);
    let mut opts = at();
    opts.expect.debug_allowed = Some(false);
    assert_eq!(
        verify(&pki, &report, &opts).unwrap_err().check(),
        Some(Check::Debug)
    );
    let mut opts = at();
    opts.expect.migration_allowed = Some(false);
    assert_eq!(
        verify(&pki, &report, &opts).unwrap_err().check(),
        Some(Check::Migration)
    );
    let mut opts = at();
    opts.expect.min_tcb = Some(TcbVersion {
        microcode: 220,
        ..milan_tcb()
    });
    assert_eq!(
        verify(&pki, &report, &opts).unwrap_err().check(),
        Some(Check::Tcb)
    );
}

#[test]
fn an_asvk_does_not_sign_a_vcek_path() {
    // A report naming the VLEK with only a VCEK at hand.
    let pki = pki(Product::Milan, &milan_leaf());
    let mut r = milan_report();
    r.signer_info = 1 << 2;
    let err = verify(&pki, &pki.report(&r), &at()).unwrap_err();
    assert_eq!(err.check(), Some(Check::SignerKind), "{err}");
    // An unsigned report (signing key 7).
    r.signer_info = 7 << 2;
    let err = verify(&pki, &pki.report(&r), &at()).unwrap_err();
    assert_eq!(err.check(), Some(Check::SigningKey), "{err}");
}
