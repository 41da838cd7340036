//! Where each key of an environment file stands, so that an error found long after
//! parsing (a bad quantity, min above max) still names its line and column.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// Line and column (1-based) of every key path in a document, such as
/// `services.orders.replicas.max` or `chaos.experiments[0].service`.
#[derive(Debug, Default, Clone)]
pub struct KeyIndex {
    keys: BTreeMap<String, (u64, u64)>,
}

impl KeyIndex {
    /// Indexes `source`; a document that does not parse gives an empty index (the
    /// parse error itself is reported by the loader).
    pub fn build(source: &str) -> Self {
        let mut keys = BTreeMap::new();
        let _ = serde_saphyr::with_deserializer_from_str(source, |de| {
            Node {
                prefix: String::new(),
                out: &mut keys,
            }
            .deserialize(de)
        });
        Self { keys }
    }

    /// Line and column of `path`, or of its nearest indexed ancestor when the key itself
    /// is absent (a missing key is reported where its parent stands).
    pub fn locate(&self, path: &str) -> Option<(u64, u64)> {
        let mut path = path;
        loop {
            if let Some(found) = self.keys.get(path) {
                return Some(*found);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

struct Node<'a> {
    prefix: String,
    out: &'a mut BTreeMap<String, (u64, u64)>,
}

fn position(location: &Location) -> (u64, u64) {
    (location.line(), location.column())
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let path = if self.prefix.is_empty() {
                key.value.clone()
            } else {
                format!("{}.{}", self.prefix, key.value)
            };
            self.out
                .entry(path.clone())
                .or_insert(position(&key.referenced));
            map.next_value_seed(Node {
                prefix: path,
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let path = format!("{}[{index}]", self.prefix);
            let element = Item {
                path,
                out: &mut *self.out,
            };
            if seq.next_element_seed(element)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

/// A sequence element: records where the element starts, then indexes its content.
struct Item<'a> {
    path: String,
    out: &'a mut BTreeMap<String, (u64, u64)>,
}

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        // The element's own position comes from wrapping it in `Spanned`; its keys are
        // indexed by a second, span-free walk of the buffered value.
        let spanned = Spanned::<Buffered>::deserialize(de)?;
        self.out
            .entry(self.path.clone())
            .or_insert(position(&spanned.referenced));
        for (key, at) in spanned.value.0 {
            self.out.entry(format!("{}{key}", self.path)).or_insert(at);
        }
        Ok(())
    }
}

/// The keys of a sequence element, relative to the element.
struct Buffered(Vec<(String, (u64, u64))>);

impl<'de> Deserialize<'de> for Buffered {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let mut keys = BTreeMap::new();
        Node {
            prefix: String::new(),
            out: &mut keys,
        }
        .deserialize(de)?;
        Ok(Buffered(
            keys.into_iter()
                .map(|(k, v)| {
                    let sep = if k.starts_with('[') { "" } else { "." };
                    (format!("{sep}{k}"), v)
                })
                .collect(),
        ))
    }
}
