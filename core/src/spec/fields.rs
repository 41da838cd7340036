//! The field names a spec type accepts at a key path, read from the types' own
//! `Deserialize` impls, so that "did you mean" suggestions can never drift from the spec.

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Field names of the struct found at `path` below `T` (empty when `path` leads to a
/// map with free-form keys, a scalar, or nowhere).
pub fn fields_at<'de, T: Deserialize<'de>>(path: &[String]) -> &'static [&'static str] {
    let mut found = None;
    let _ = T::deserialize(Probe {
        path,
        found: &mut found,
    });
    found.unwrap_or(&[])
}

/// A deserializer that feeds the type exactly one key per level, following `path`, and
/// records the `fields` list of the struct at its end.
struct Probe<'p, 'f> {
    path: &'p [String],
    found: &'f mut Option<&'static [&'static str]>,
}

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("probe stopped")
    }
}
impl std::error::Error for Stop {}
impl de::Error for Stop {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for Probe<'_, '_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        match self.path.split_first() {
            None => {
                *self.found = Some(fields);
                Err(Stop)
            }
            Some((head, rest)) => visitor.visit_map(OneEntry {
                key: Some(head.as_str()),
                rest,
                found: self.found,
            }),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        match self.path.split_first() {
            None => Err(Stop),
            Some((head, rest)) => visitor.visit_map(OneEntry {
                key: Some(head.as_str()),
                rest,
                found: self.found,
            }),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        // Sequence indexes are path segments too (`experiments`, `0`).
        match self.path.split_first() {
            Some((head, rest)) if head.parse::<usize>().is_ok() => visitor.visit_seq(OneItem {
                rest: Some(rest),
                found: self.found,
            }),
            _ => Err(Stop),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct tuple tuple_struct enum identifier ignored_any
    }
}

struct OneEntry<'p, 'f> {
    key: Option<&'p str>,
    rest: &'p [String],
    found: &'f mut Option<&'static [&'static str]>,
}

impl<'de> MapAccess<'de> for OneEntry<'_, '_> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        match self.key.take() {
            Some(key) => seed
                .deserialize(de::value::StrDeserializer::<Stop>::new(key))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        seed.deserialize(Probe {
            path: self.rest,
            found: self.found,
        })
    }
}

struct OneItem<'p, 'f> {
    rest: Option<&'p [String]>,
    found: &'f mut Option<&'static [&'static str]>,
}

impl<'de> SeqAccess<'de> for OneItem<'_, '_> {
    type Error = Stop;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Stop> {
        match self.rest.take() {
            Some(rest) => seed
                .deserialize(Probe {
                    path: rest,
                    found: self.found,
                })
                .map(Some),
            None => Ok(None),
        }
    }
}
