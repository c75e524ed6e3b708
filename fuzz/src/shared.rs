//! Constants the fuzz targets and the seed generator (seeds/) share, so
//! that seeds reach past the first checks.

/// The time the targets verify at, where a clock is injectable
/// (2025-06-01T00:00:00Z): inside the validity of the real vectors.
pub const FIXED_NOW: i64 = 1_748_736_000;

/// The issuer of the tokens the JWT targets sign and trust.
pub const ISSUER: &str = "https://fuzz.tee-attest.invalid";

/// The audience of the `jwt_admin` target's profile.
pub const ADMIN_AUDIENCE: &str = "api://tee-attest-policy";

/// The role of the `jwt_admin` target's profile.
pub const ADMIN_ROLE: &str = "Policy.Write";

/// The modulus of the stand-in decryptor's public key: a fixed odd
/// 2048-bit value (no private key exists for it).
pub fn stand_in_modulus() -> Vec<u8> {
    let mut n = vec![0xC7u8; 256];
    n[255] = 0x01;
    n
}
