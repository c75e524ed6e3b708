//! Chip products and TCB versions.
//!
//! A TCB version is a u64 whose byte layout depends on the product:
//!
//! ```text
//! Milan, Genoa: [0] boot loader  [1] TEE  [2..6] reserved  [6] SNP  [7] microcode
//! Turin:        [0] FMC  [1] boot loader  [2] TEE  [3] SNP  [4..7] reserved  [7] microcode
//! ```

use std::fmt;

/// An AMD EPYC generation with SEV-SNP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Product {
    /// 3rd generation EPYC (Zen 3).
    Milan,
    /// 4th generation EPYC (Zen 4).
    Genoa,
    /// 5th generation EPYC (Zen 5).
    Turin,
}

impl Product {
    /// Every product, in order.
    pub const ALL: &'static [Product] = &[Product::Milan, Product::Genoa, Product::Turin];

    /// The name AMD's KDS uses in URLs (`Milan`, `Genoa`, `Turin`).
    pub const fn name(self) -> &'static str {
        match self {
            Product::Milan => "Milan",
            Product::Genoa => "Genoa",
            Product::Turin => "Turin",
        }
    }

    /// The product of a CPUID family and model (report v3+).
    pub fn from_cpuid(family: u8, model: u8) -> Option<Product> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Product::Milan),
            (0x19, 0x10..=0x1F) | (0x19, 0xA0..=0xAF) => Some(Product::Genoa),
            (0x1A, 0x00..=0x11) => Some(Product::Turin),
            _ => None,
        }
    }

    /// The product a name stands for: `Milan-B0`, `SEV-Milan`,
    /// `SEV-VLEK-Genoa`, `ARK-Turin`, … (case-insensitive).
    pub fn from_name(name: &str) -> Option<Product> {
        let lower = name.to_ascii_lowercase();
        Product::ALL
            .iter()
            .copied()
            .find(|p| lower.contains(&p.name().to_ascii_lowercase()))
    }

    /// Whether the TCB uses Turin's layout (with an FMC component).
    pub const fn has_fmc(self) -> bool {
        matches!(self, Product::Turin)
    }

    /// How many bytes of the chip id form the hwID in KDS URLs and VCEKs.
    pub const fn hwid_len(self) -> usize {
        match self {
            Product::Turin => 8,
            _ => 64,
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The security patch levels of one TCB version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcbVersion {
    /// FMC SPL (Turin only).
    pub fmc: Option<u8>,
    /// Boot loader SPL.
    pub bootloader: u8,
    /// TEE (PSP OS) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub microcode: u8,
}

impl TcbVersion {
    /// Reads a raw TCB u64 with `product`'s byte layout.
    pub fn from_raw(raw: u64, product: Product) -> Self {
        let b = raw.to_le_bytes();
        if product.has_fmc() {
            TcbVersion {
                fmc: Some(b[0]),
                bootloader: b[1],
                tee: b[2],
                snp: b[3],
                microcode: b[7],
            }
        } else {
            TcbVersion {
                fmc: None,
                bootloader: b[0],
                tee: b[1],
                snp: b[6],
                microcode: b[7],
            }
        }
    }

    /// The raw u64 of this TCB with `product`'s layout (the inverse of
    /// [`from_raw`](Self::from_raw) for the reserved bytes zero).
    pub fn to_raw(self, product: Product) -> u64 {
        let mut b = [0u8; 8];
        if product.has_fmc() {
            b[0] = self.fmc.unwrap_or(0);
            b[1] = self.bootloader;
            b[2] = self.tee;
            b[3] = self.snp;
        } else {
            b[0] = self.bootloader;
            b[1] = self.tee;
            b[6] = self.snp;
        }
        b[7] = self.microcode;
        u64::from_le_bytes(b)
    }

    /// The components by name, in KDS order (`fmcSPL` only when present).
    pub fn components(self) -> Vec<(&'static str, u8)> {
        let mut v = Vec::with_capacity(5);
        if let Some(f) = self.fmc {
            v.push(("fmc", f));
        }
        v.push(("bootloader", self.bootloader));
        v.push(("tee", self.tee));
        v.push(("snp", self.snp));
        v.push(("microcode", self.microcode));
        v
    }

    /// The first component of `self` that is above the same component of
    /// `other`, if any (component-wise `self ≤ other` fails there). FMC is
    /// compared only when both have it.
    pub fn first_above(self, other: TcbVersion) -> Option<(&'static str, u8, u8)> {
        let fmc = match (self.fmc, other.fmc) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        };
        let pairs = [
            ("fmc", fmc),
            ("bootloader", Some((self.bootloader, other.bootloader))),
            ("tee", Some((self.tee, other.tee))),
            ("snp", Some((self.snp, other.snp))),
            ("microcode", Some((self.microcode, other.microcode))),
        ];
        pairs
            .into_iter()
            .find_map(|(name, p)| p.filter(|(a, b)| a > b).map(|(a, b)| (name, a, b)))
    }
}

impl fmt::Display for TcbVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fmc) = self.fmc {
            write!(f, "fmc={fmc} ")?;
        }
        write!(
            f,
            "bootloader={} tee={} snp={} microcode={}",
            self.bootloader, self.tee, self.snp, self.microcode
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let raw = u64::from_le_bytes([3, 0, 0, 0, 0, 0, 8, 0x73]);
        let t = TcbVersion::from_raw(raw, Product::Milan);
        assert_eq!((t.bootloader, t.tee, t.snp, t.microcode), (3, 0, 8, 0x73));
        assert_eq!(t.to_raw(Product::Milan), raw);
        let raw = u64::from_le_bytes([1, 2, 3, 4, 0, 0, 0, 9]);
        let t = TcbVersion::from_raw(raw, Product::Turin);
        assert_eq!(t.fmc, Some(1));
        assert_eq!((t.bootloader, t.tee, t.snp, t.microcode), (2, 3, 4, 9));
        assert_eq!(t.to_raw(Product::Turin), raw);
    }

    #[test]
    fn products() {
        assert_eq!(Product::from_cpuid(0x19, 1), Some(Product::Milan));
        assert_eq!(Product::from_cpuid(0x19, 0x11), Some(Product::Genoa));
        assert_eq!(Product::from_cpuid(0x1A, 2), Some(Product::Turin));
        assert_eq!(Product::from_cpuid(0x17, 1), None);
        assert_eq!(Product::from_name("Milan-B0"), Some(Product::Milan));
        assert_eq!(Product::from_name("SEV-VLEK-Genoa"), Some(Product::Genoa));
    }

    #[test]
    fn ordering() {
        let a = TcbVersion {
            fmc: None,
            bootloader: 3,
            tee: 0,
            snp: 8,
            microcode: 0x73,
        };
        let mut b = a;
        assert_eq!(a.first_above(b), None);
        b.microcode = 0x70;
        assert_eq!(a.first_above(b), Some(("microcode", 0x73, 0x70)));
    }
}
