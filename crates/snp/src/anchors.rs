//! The roots a verifier trusts: the genuine AMD ARKs and ASKs built in,
//! and extra roots added explicitly.

use crate::certs::{AmdCertificate, CertRole};
use crate::der::pem_blocks;
use crate::error::SnpError;
use crate::tcb::Product;

/// Where a trust anchor comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RootOrigin {
    /// A genuine AMD root built into this crate.
    Amd,
    /// A root added explicitly by the caller (for instance the mock roots).
    Extra,
}

impl RootOrigin {
    /// `amd` or `extra`.
    pub fn name(self) -> &'static str {
        match self {
            RootOrigin::Amd => "amd",
            RootOrigin::Extra => "extra",
        }
    }
}

/// One trusted ARK, with the product it serves.
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    /// The ARK.
    pub ark: AmdCertificate,
    /// Its product, when known.
    pub product: Option<Product>,
    /// Genuine or extra.
    pub origin: RootOrigin,
}

/// The roots a verifier trusts, and intermediates it may use when evidence
/// carries none.
///
/// [`TrustAnchors::default`] (= [`TrustAnchors::amd`]) holds the genuine
/// AMD ARKs and ASKs for Milan, Genoa and Turin only. Other roots (the mock
/// roots) are trusted only through [`TrustAnchors::add_extra_root`], and a
/// verification result tells which kind of root its chain ended in.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    roots: Vec<TrustAnchor>,
    intermediates: Vec<AmdCertificate>,
}

impl Default for TrustAnchors {
    fn default() -> Self {
        Self::amd()
    }
}

fn builtin_pem(pem: &[u8], what: &str) -> Option<AmdCertificate> {
    let der = pem_blocks(pem, "CERTIFICATE").into_iter().next()?;
    match AmdCertificate::from_der(&der, what) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!("built-in {what} does not parse: {e}");
            None
        }
    }
}

impl TrustAnchors {
    /// The genuine AMD roots (ARK) and ASKs for Milan, Genoa and Turin, as
    /// the `sev` crate ships them.
    pub fn amd() -> Self {
        use sev::certs::snp::builtin::{genoa, milan, turin};
        let sets: [(Product, &[u8], &[u8]); 3] = [
            (Product::Milan, milan::ARK, milan::ASK),
            (Product::Genoa, genoa::ARK, genoa::ASK),
            (Product::Turin, turin::ARK, turin::ASK),
        ];
        let mut roots = Vec::new();
        let mut intermediates = Vec::new();
        for (product, ark, ask) in sets {
            if let Some(ark) = builtin_pem(ark, "built-in ARK") {
                roots.push(TrustAnchor {
                    ark,
                    product: Some(product),
                    origin: RootOrigin::Amd,
                });
            }
            if let Some(ask) = builtin_pem(ask, "built-in ASK") {
                intermediates.push(ask);
            }
        }
        Self {
            roots,
            intermediates,
        }
    }

    /// AMD's roots and these extra roots (ARKs, DER): the mock roots, only
    /// when a caller asks for them explicitly.
    pub fn amd_and(extra_roots: &[Vec<u8>]) -> Result<Self, SnpError> {
        let mut anchors = Self::amd();
        for root in extra_roots {
            anchors.add_extra_root(root)?;
        }
        Ok(anchors)
    }

    /// No roots at all (to build a set of extra roots only).
    pub fn empty() -> Self {
        Self {
            roots: Vec::new(),
            intermediates: Vec::new(),
        }
    }

    /// Trusts one more root (a self-signed ARK, DER), marked as
    /// [`RootOrigin::Extra`]. Its self-signature is checked here.
    pub fn add_extra_root(&mut self, ark_der: &[u8]) -> Result<(), SnpError> {
        let ark = AmdCertificate::from_der(ark_der, "extra root")?;
        if ark.role() != CertRole::Ark {
            return Err(SnpError::cert(
                "extra root",
                format!("not a self-signed RSA root (looks like {})", ark.role()),
            ));
        }
        ark.verify_signed_by(&ark)
            .map_err(|e| SnpError::cert("extra root", e))?;
        let product = ark.product();
        self.roots.push(TrustAnchor {
            ark,
            product,
            origin: RootOrigin::Extra,
        });
        Ok(())
    }

    /// [`add_extra_root`](Self::add_extra_root), builder style.
    pub fn with_extra_root(mut self, ark_der: &[u8]) -> Result<Self, SnpError> {
        self.add_extra_root(ark_der)?;
        Ok(self)
    }

    /// Adds an intermediate (ASK or ASVK, DER) to use when evidence carries
    /// none. It is still checked against a trusted root at every use.
    pub fn add_intermediate(&mut self, der: &[u8]) -> Result<(), SnpError> {
        let c = AmdCertificate::from_der(der, "intermediate")?;
        if !matches!(c.role(), CertRole::Ask | CertRole::Asvk) {
            return Err(SnpError::cert(
                "intermediate",
                format!("not an ASK/ASVK (looks like {})", c.role()),
            ));
        }
        self.intermediates.push(c);
        Ok(())
    }

    /// The trusted roots.
    pub fn roots(&self) -> &[TrustAnchor] {
        &self.roots
    }

    /// The known intermediates.
    pub fn intermediates(&self) -> &[AmdCertificate] {
        &self.intermediates
    }

    /// The built-in genuine ARK of `product`.
    pub fn amd_ark(&self, product: Product) -> Option<&AmdCertificate> {
        self.roots
            .iter()
            .find(|r| r.origin == RootOrigin::Amd && r.product == Some(product))
            .map(|r| &r.ark)
    }

    /// The anchor whose certificate is byte-identical to `ark`.
    pub(crate) fn find_identical(&self, ark: &AmdCertificate) -> Option<&TrustAnchor> {
        self.roots.iter().find(|r| r.ark.der() == ark.der())
    }

    /// A root or intermediate of these anchors whose DER is `der`, already
    /// parsed.
    pub fn known(&self, der: &[u8]) -> Option<&AmdCertificate> {
        self.roots
            .iter()
            .map(|r| &r.ark)
            .chain(self.intermediates.iter())
            .find(|c| c.der() == der)
    }

    /// The anchors whose subject is `issuer_name` (DER).
    pub(crate) fn by_subject<'a>(
        &'a self,
        issuer_name: &'a [u8],
    ) -> impl Iterator<Item = &'a TrustAnchor> + 'a {
        self.roots
            .iter()
            .filter(move |r| r.ark.subject_der() == issuer_name)
    }

    /// Known intermediates whose subject is `issuer_name` (DER).
    pub(crate) fn intermediates_by_subject<'a>(
        &'a self,
        issuer_name: &'a [u8],
    ) -> impl Iterator<Item = &'a AmdCertificate> + 'a {
        self.intermediates
            .iter()
            .filter(move |c| c.subject_der() == issuer_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roots_parse_and_self_verify() {
        let t = TrustAnchors::amd();
        assert_eq!(t.roots().len(), 3);
        assert_eq!(t.intermediates().len(), 3);
        for r in t.roots() {
            assert_eq!(r.ark.role(), CertRole::Ark);
            assert_eq!(r.origin, RootOrigin::Amd);
            r.ark.verify_signed_by(&r.ark).unwrap();
            assert_eq!(r.ark.product(), r.product);
        }
        for ask in t.intermediates() {
            assert_eq!(ask.role(), CertRole::Ask);
            let ark = t.amd_ark(ask.product().unwrap()).unwrap();
            ask.verify_signed_by(ark).unwrap();
            assert!(ark.verify_signed_by(ask).is_err());
        }
    }

    #[test]
    fn extra_root_must_be_self_signed() {
        let t = TrustAnchors::amd();
        let mut e = TrustAnchors::empty();
        assert!(e.add_extra_root(t.intermediates()[0].der()).is_err());
        e.add_extra_root(t.roots()[0].ark.der()).unwrap();
        assert_eq!(e.roots()[0].origin, RootOrigin::Extra);
    }
}
