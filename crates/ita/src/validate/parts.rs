//! Strict JSON for the token's two parts: the header and claims walked
//! once (`tee_attest_core::json`: unique member names at any depth), with
//! only the members the checks read decoded.

use super::*;

#[derive(Default)]
pub(super) struct Header {
    pub(super) alg: Option<Value>,
    pub(super) kid: Option<Value>,
    pub(super) typ: Option<Value>,
    pub(super) crit: bool,
}

pub(super) struct HeaderSeed;

impl<'de> DeserializeSeed<'de> for HeaderSeed {
    type Value = Header;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Header, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut out = Header::default();
        let mut names: Vec<Name<'de>> = Vec::with_capacity(8);
        while let Some(name) = map.next_key_seed(NameSeed)? {
            let slot = match name.as_ref() {
                "alg" => Some(&mut out.alg),
                "kid" => Some(&mut out.kid),
                "typ" => Some(&mut out.typ),
                "crit" => {
                    out.crit = true;
                    None
                }
                _ => None,
            };
            names.push(name);
            match slot {
                Some(s) => *s = Some(map.next_value_seed(StrictValue)?),
                None => map.next_value_seed(Unique { names: &mut names })?,
            }
        }
        close_object(&mut names, 0)?;
        Ok(out)
    }
}

#[derive(Default)]
pub(super) struct Claims {
    pub(super) iss: Option<Value>,
    pub(super) exp: Option<Value>,
    pub(super) nbf: Option<Value>,
    pub(super) iat: Option<Value>,
    pub(super) verifier_nonce: Option<Value>,
    pub(super) policy_ids_matched: Option<Value>,
    pub(super) tdx_verifier_nonce: Option<Value>,
}

pub(super) struct ClaimsSeed;

impl<'de> DeserializeSeed<'de> for ClaimsSeed {
    type Value = Claims;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Claims, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed {
    type Value = Claims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Claims, A::Error> {
        let mut out = Claims::default();
        let mut names: Vec<Name<'de>> = Vec::with_capacity(64);
        while let Some(name) = map.next_key_seed(NameSeed)? {
            enum Slot {
                Keep(usize),
                Tdx,
                Skip,
            }
            let slot = match name.as_ref() {
                "iss" => Slot::Keep(0),
                "exp" => Slot::Keep(1),
                "nbf" => Slot::Keep(2),
                "iat" => Slot::Keep(3),
                "verifier_nonce" => Slot::Keep(4),
                "policy_ids_matched" => Slot::Keep(5),
                "tdx" => Slot::Tdx,
                _ => Slot::Skip,
            };
            names.push(name);
            match slot {
                Slot::Keep(i) => {
                    let v = Some(map.next_value_seed(StrictValue)?);
                    match i {
                        0 => out.iss = v,
                        1 => out.exp = v,
                        2 => out.nbf = v,
                        3 => out.iat = v,
                        4 => out.verifier_nonce = v,
                        _ => out.policy_ids_matched = v,
                    }
                }
                Slot::Tdx => {
                    out.tdx_verifier_nonce = map.next_value_seed(TdxSeed { names: &mut names })?;
                }
                Slot::Skip => map.next_value_seed(Unique { names: &mut names })?,
            }
        }
        close_object(&mut names, 0)?;
        Ok(out)
    }
}

/// The `tdx` object: walked like any other, its `verifier_nonce` kept.
pub(super) struct TdxSeed<'a, 'de> {
    names: &'a mut Vec<Name<'de>>,
}

impl<'de> DeserializeSeed<'de> for TdxSeed<'_, 'de> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TdxSeed<'_, 'de> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the `tdx` object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let from = self.names.len();
        let mut nonce = None;
        while let Some(name) = map.next_key_seed(NameSeed)? {
            let is_nonce = name == "verifier_nonce";
            self.names.push(name);
            if is_nonce {
                nonce = Some(map.next_value_seed(StrictValue)?);
            } else {
                map.next_value_seed(Unique {
                    names: &mut *self.names,
                })?;
            }
        }
        close_object::<A::Error>(self.names, from)?;
        Ok(nonce)
    }
}
