//! The token's header and payload: strict base64url, then one walk of the
//! JSON text (`tee_attest_core::json`: unique member names at any depth)
//! that decodes only the members the checks read and keeps the client
//! payload's nonces.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use tee_attest_core::json::{close_object, Name, NameSeed, StrictValue};

use crate::{MaaError, TokenCheck};

/// What a [`Walk`] keeps of the value it walks.
#[derive(Clone, Copy, PartialEq)]
enum Keep {
    /// Nothing.
    Nothing,
    /// `x-ms-runtime`: the nonces of its `client-payload`.
    RuntimeNonces,
    /// `client-payload`: the string values of its members named `nonce`
    /// (any case).
    PayloadNonces,
}

/// A JSON value walked without being built: numbers are parsed (so that
/// whatever later decodes the text into a [`Value`] accepts it), strings
/// are not copied, and duplicate member names are refused at any depth.
struct Walk<'a, 'de> {
    names: &'a mut Vec<Name<'de>>,
    keep: Keep,
    nonces: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        if v.is_finite() {
            Ok(())
        } else {
            Err(E::custom("not a finite number"))
        }
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Walk {
                names: &mut *self.names,
                keep: Keep::Nothing,
                nonces: &mut *self.nonces,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let from = self.names.len();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            let is_nonce = self.keep == Keep::PayloadNonces && name.eq_ignore_ascii_case("nonce");
            let keep = if self.keep == Keep::RuntimeNonces && name == "client-payload" {
                Keep::PayloadNonces
            } else {
                Keep::Nothing
            };
            self.names.push(name);
            if is_nonce {
                if let Value::String(n) = map.next_value_seed(StrictValue)? {
                    self.nonces.push(n);
                }
            } else {
                map.next_value_seed(Walk {
                    names: &mut *self.names,
                    keep,
                    nonces: &mut *self.nonces,
                })?;
            }
        }
        close_object(self.names, from)
    }
}

/// The members of a JSON object the validator reads.
pub(super) struct Picked<const N: usize> {
    /// The members named in [`Pick::wanted`], decoded, in its order.
    pub(super) values: [Option<Value>; N],
    /// The nonces of `x-ms-runtime.client-payload`.
    pub(super) payload_nonces: Vec<String>,
}

/// A JSON object walked as [`Walk`] does, with the members named in
/// `wanted` decoded ([`StrictValue`]) and the client payload's nonces kept.
/// `None` names nothing (a member the profile does not read); a name
/// listed twice is decoded into its first slot only.
struct Pick<'w, const N: usize> {
    wanted: [Option<&'w str>; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for Pick<'_, N> {
    type Value = Picked<N>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Pick<'_, N> {
    type Value = Picked<N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Picked {
            values: std::array::from_fn(|_| None),
            payload_nonces: Vec::new(),
        };
        let mut names: Vec<Name<'de>> = Vec::with_capacity(64);
        while let Some(name) = map.next_key_seed(NameSeed)? {
            let wanted = self.wanted.iter().position(|w| *w == Some(&*name));
            let keep = if name == "x-ms-runtime" {
                Keep::RuntimeNonces
            } else {
                Keep::Nothing
            };
            // The top-level names stay below the nested objects'.
            names.push(name);
            match wanted {
                Some(i) => out.values[i] = Some(map.next_value_seed(StrictValue)?),
                None => map.next_value_seed(Walk {
                    names: &mut names,
                    keep,
                    nonces: &mut out.payload_nonces,
                })?,
            }
        }
        close_object(&mut names, 0)?;
        Ok(out)
    }
}

/// Decodes a base64url part, checks that it is a UTF-8 JSON object with
/// unique member names at any depth, and returns its JSON text with the
/// members the validator reads.
pub(super) fn checked_object<const N: usize>(
    part: &str,
    check: TokenCheck,
    what: &str,
    wanted: [Option<&str>; N],
) -> Result<(Vec<u8>, Picked<N>), MaaError> {
    let bytes = b64url_decode(part).ok_or_else(|| {
        MaaError::rejected(TokenCheck::Format, format!("the {what} is not base64url"))
    })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| MaaError::rejected(check, format!("the {what} is not UTF-8")))?;
    let not_json = |e: serde_json::Error| {
        MaaError::rejected(check, format!("the {what} is not acceptable JSON: {e}"))
    };
    if !text.trim_start().starts_with('{') {
        return Err(MaaError::rejected(
            check,
            format!("the {what} is not a JSON object"),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let picked = Pick { wanted }.deserialize(&mut de).map_err(not_json)?;
    de.end().map_err(not_json)?;
    Ok((bytes, picked))
}

/// Strict unpadded base64url (no padding, no other alphabet, canonical
/// trailing bits), SIMD-accelerated: decoding the header and payload is
/// the largest cost of validation after the signature.
pub(super) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    base64_simd::URL_SAFE_NO_PAD.decode_to_vec(s).ok()
}
