//! Strict JSON for JOSE parts (JWS headers and claims, shared by the
//! MAA and ITA token validators): walking a JSON text without building it
//! while refusing duplicate member names at any depth ([`Unique`]), and
//! decoding the few members a check reads ([`StrictValue`]). Build custom
//! walkers (a validator that keeps some members as it walks) from
//! [`NameSeed`] and [`close_object`].
//!
//! Duplicates matter: with `{"iss": A, ..., "iss": B}` a last-wins parser
//! and a first-wins parser see different issuers. Names are compared
//! decoded, so an escaped spelling (`"\u0069ss"`) is the same name.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A member name, borrowed from the text unless it had escapes.
pub type Name<'de> = Cow<'de, str>;

/// Reads a member name (a [`DeserializeSeed`] for
/// [`MapAccess::next_key_seed`]).
#[derive(Debug, Clone, Copy)]
pub struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Name<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Name<'de>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Name<'de>, E> {
        Ok(Cow::Owned(v))
    }
}

/// Refuses a duplicate among `names[from..]` (the names of one object,
/// compared decoded, so that an escaped spelling of a name is the same
/// name), then drops them: one buffer serves a whole document, each
/// object's names above its parent's.
pub fn close_object<E: de::Error>(names: &mut Vec<Name<'_>>, from: usize) -> Result<(), E> {
    let own = &mut names[from..];
    if own.len() > 1 {
        // By length first: cheap, and it separates most names (MAA's share
        // long prefixes such as `x-ms-`) without comparing their bytes.
        own.sort_unstable_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        if let Some(w) = own.windows(2).find(|w| w[0] == w[1]) {
            return Err(E::custom(format_args!("duplicate member {:?}", w[0])));
        }
    }
    names.truncate(from);
    Ok(())
}

/// Walks any JSON value without building it, refusing duplicate member
/// names at any depth and non-finite numbers.
#[derive(Debug)]
pub struct Unique<'a, 'de> {
    /// The shared name buffer.
    pub names: &'a mut Vec<Name<'de>>,
}

impl<'de> DeserializeSeed<'de> for Unique<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique<'_, 'de> {
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
            .next_element_seed(Unique {
                names: &mut *self.names,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let from = self.names.len();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            self.names.push(name);
            map.next_value_seed(Unique {
                names: &mut *self.names,
            })?;
        }
        close_object(self.names, from)
    }
}

/// A JSON value decoded into a [`Value`], refusing duplicate member names
/// at any depth (for the small members a check reads).
#[derive(Debug, Clone, Copy)]
pub struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            if out.contains_key(name.as_ref()) {
                return Err(de::Error::custom(format_args!("duplicate member {name:?}")));
            }
            let v = map.next_value_seed(StrictValue)?;
            out.insert(name.into_owned(), v);
        }
        Ok(Value::Object(out))
    }
}

/// Decodes the JSON text `text` as one value with `seed`, refusing
/// anything but whitespace after it.
pub fn from_str_seed<'de, S: DeserializeSeed<'de>>(
    text: &'de str,
    seed: S,
) -> Result<S::Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique(text: &str) -> Result<(), serde_json::Error> {
        let mut names = Vec::new();
        from_str_seed(text, Unique { names: &mut names })
    }

    #[test]
    fn duplicates_are_refused_at_any_depth_and_in_any_spelling() {
        unique(r#"{"a":{"b":[1,2.5,null,true,"x",{"b":1}]},"b":1}"#).unwrap();
        for bad in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":{"b":1,"b":1}}"#,
            r#"[{"c":1,"c":1}]"#,
            r#"{"iss":1,"\u0069ss":2}"#,
            r#"{"a":1} x"#,
            r#"{"a":1e999}"#,
        ] {
            assert!(unique(bad).is_err(), "{bad}");
        }
        let v = from_str_seed(r#"{"a":[1,{"b":"c"}]}"#, StrictValue).unwrap();
        assert_eq!(v["a"][1]["b"], "c");
        assert!(from_str_seed(r#"{"a":{"b":1,"\u0062":2}}"#, StrictValue).is_err());
    }
}
