//! Reads the spec types from a parsed document the way serde would, but without stopping:
//! a value of the wrong type, an unknown, duplicate or missing key is recorded as a
//! problem with its key path and position, and reading goes on with a placeholder (zero,
//! empty text, an empty mapping), so one bad value never hides the next. The field names
//! and types come from the spec types' own `Deserialize` impls, so the messages can never
//! drift from the spec.

use std::cell::RefCell;
use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};

use super::document::{Entry, Node, Position, Value};

/// Something wrong with the shape of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Key path, `services.orders.replicas.min`.
    pub key: String,
    /// Where the bad value (or its key) stands.
    pub at: Option<Position>,
    /// What is wrong.
    pub message: String,
    /// The spec holds a placeholder at `key`: checks of that value would only repeat this
    /// problem.
    pub placeholder: bool,
}

/// Reads a `T` from `root`, with every problem found on the way.
pub(crate) fn read<T: DeserializeOwned>(root: &Node) -> (Option<T>, Vec<Problem>) {
    let problems = RefCell::new(Vec::new());
    let result = T::deserialize(De {
        source: Source::Node(root),
        path: String::new(),
        key_at: Some(root.at),
        problems: &problems,
    });
    let mut problems = problems.into_inner();
    let value = match result {
        Ok(value) => Some(value),
        Err(Abort(message)) => {
            problems.push(Problem {
                key: String::new(),
                at: Some(root.at),
                message,
                placeholder: true,
            });
            None
        }
    };
    (value, problems)
}

/// The error of this deserializer. It never raises one itself (it records problems and
/// goes on); only a visitor could, which the spec types' derived visitors do not.
#[derive(Debug)]
pub(crate) struct Abort(String);

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Abort {}

impl de::Error for Abort {
    fn custom<M: fmt::Display>(message: M) -> Self {
        Abort(message.to_string())
    }
}

#[derive(Clone, Copy)]
enum Source<'a> {
    Node(&'a Node),
    /// A field the file does not set. `quiet` inside a placeholder, whose missing fields
    /// are not news.
    Missing {
        quiet: bool,
    },
}

struct De<'a> {
    source: Source<'a>,
    path: String,
    /// Where the key naming this value stands (its parent's, for a missing key).
    key_at: Option<Position>,
    problems: &'a RefCell<Vec<Problem>>,
}

/// How a value is named in a message.
fn found(node: &Node) -> String {
    match &node.value {
        Value::Null => "nothing".to_owned(),
        Value::Map(_) => "a mapping".to_owned(),
        Value::Seq(_) => "a list".to_owned(),
        Value::Str(s) => quoted(s),
        _ => quoted(&node.raw),
    }
}

fn quoted(text: &str) -> String {
    const LONGEST: usize = 40;
    if text.chars().count() > LONGEST {
        let cut: String = text.chars().take(LONGEST).collect();
        format!("`{cut}…`")
    } else {
        format!("`{text}`")
    }
}

impl<'a> De<'a> {
    fn problem(&self, at: Option<Position>, message: String, placeholder: bool) {
        self.problems.borrow_mut().push(Problem {
            key: self.path.clone(),
            at,
            message,
            placeholder,
        });
    }

    /// Records that the value is not what the field takes; the caller goes on with a
    /// placeholder.
    fn wrong(&self, expected: &str) {
        match self.source {
            Source::Node(node) if matches!(node.value, Value::Null) => self.problem(
                self.key_at,
                match expected {
                    "a value" => "has no value".to_owned(),
                    _ => format!("has no value: expected {expected}"),
                },
                true,
            ),
            Source::Node(node) => self.problem(
                Some(node.at),
                format!("expected {expected}, found {}", found(node)),
                true,
            ),
            Source::Missing { quiet: true } => {}
            Source::Missing { quiet: false } => {
                self.problem(self.key_at, "is required but missing".into(), true)
            }
        }
    }

    fn value(&self) -> Option<&'a Value> {
        match self.source {
            Source::Node(node) => Some(&node.value),
            Source::Missing { .. } => None,
        }
    }

    fn integer(&self, min: i128, max: i128) -> i128 {
        let value = match self.value() {
            Some(Value::Int(i)) => Some(*i),
            // A quoted number is still a number, as serde-saphyr reads it.
            Some(Value::Str(s)) => s.trim().parse::<i128>().ok(),
            _ => None,
        };
        match value {
            Some(v) if (min..=max).contains(&v) => v,
            Some(_) => {
                self.wrong(&format!("a whole number from {min} to {max}"));
                0
            }
            None => {
                self.wrong("a whole number");
                0
            }
        }
    }

    fn float(&self) -> f64 {
        let value = match self.value() {
            Some(Value::Int(i)) => Some(*i as f64),
            Some(Value::Float(f)) => Some(*f),
            Some(Value::Str(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match value {
            Some(v) if v.is_finite() => v,
            _ => {
                self.wrong("a number");
                0.0
            }
        }
    }

    fn text(&self) -> String {
        match self.source {
            Source::Node(node) => match &node.value {
                Value::Str(s) => s.clone(),
                // `1.10` and `0x10` are the text the user wrote, not the number read.
                Value::Bool(_) | Value::Int(_) | Value::Float(_) => node.raw.clone(),
                Value::Null => {
                    self.wrong("a value");
                    String::new()
                }
                Value::Map(_) | Value::Seq(_) => {
                    self.wrong("a single value");
                    String::new()
                }
            },
            Source::Missing { .. } => {
                self.wrong("a value");
                String::new()
            }
        }
    }

    fn child(&self, key: &str, source: Source<'a>, key_at: Option<Position>) -> De<'a> {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        De {
            source,
            path,
            key_at,
            problems: self.problems,
        }
    }

    fn entries(&self, quiet: bool, fields: Option<&'static [&'static str]>) -> Entries<'a> {
        let (entries, parent_at): (&'a [Entry], _) = match self.source {
            Source::Node(node) => match &node.value {
                Value::Map(entries) => (entries, Some(node.at)),
                _ => (&[], self.key_at),
            },
            Source::Missing { .. } => (&[], self.key_at),
        };
        Entries {
            parent: De {
                source: self.source,
                path: self.path.clone(),
                key_at: parent_at,
                problems: self.problems,
            },
            entries: entries.iter(),
            fields,
            seen: Vec::new(),
            missing: None,
            quiet,
            pending: None,
        }
    }
}

macro_rules! integers {
    ($($method:ident $visit:ident $t:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
            let v = self.integer(<$t>::MIN as i128, <$t>::MAX as i128);
            visitor.$visit(v as $t)
        }
    )*};
}

impl<'de, 'a> Deserializer<'de> for De<'a> {
    type Error = Abort;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        match self.value() {
            None | Some(Value::Null) => visitor.visit_unit(),
            Some(Value::Bool(b)) => visitor.visit_bool(*b),
            Some(Value::Int(i)) => match (i64::try_from(*i), u64::try_from(*i)) {
                (Ok(v), _) => visitor.visit_i64(v),
                (_, Ok(v)) => visitor.visit_u64(v),
                _ => visitor.visit_i128(*i),
            },
            Some(Value::Float(f)) => visitor.visit_f64(*f),
            Some(Value::Str(s)) => visitor.visit_str(s),
            Some(Value::Map(_)) => visitor.visit_map(self.entries(false, None)),
            Some(Value::Seq(items)) => visitor.visit_seq(Items::new(&self, items)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        let value = match self.value() {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::Str(s)) if s == "true" => Some(true),
            Some(Value::Str(s)) if s == "false" => Some(false),
            _ => None,
        };
        visitor.visit_bool(value.unwrap_or_else(|| {
            self.wrong("`true` or `false`");
            false
        }))
    }

    integers! {
        deserialize_i8 visit_i8 i8, deserialize_i16 visit_i16 i16,
        deserialize_i32 visit_i32 i32, deserialize_i64 visit_i64 i64,
        deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32, deserialize_u64 visit_u64 u64
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        visitor.visit_f32(self.float() as f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        visitor.visit_f64(self.float())
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        visitor.visit_string(self.text())
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        self.deserialize_string(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        match self.source {
            Source::Missing { .. } => visitor.visit_none(),
            // A key written without a value is a mistake for a scalar (`tag:` is not "the
            // default tag") and an empty section for a mapping or a list: the type asked
            // for next decides.
            Source::Node(_) => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Abort> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Abort> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        match self.value() {
            Some(Value::Seq(items)) => visitor.visit_seq(Items::new(&self, items)),
            Some(Value::Null) => visitor.visit_seq(Items::new(&self, &[])),
            _ => {
                self.wrong("a list");
                visitor.visit_seq(Items::new(&self, &[]))
            }
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Abort> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Abort> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        match self.value() {
            Some(Value::Map(_) | Value::Null) => visitor.visit_map(self.entries(false, None)),
            _ => {
                self.wrong("a mapping of keys to values");
                visitor.visit_map(self.entries(true, None))
            }
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Abort> {
        match self.source {
            Source::Node(node) if matches!(node.value, Value::Map(_) | Value::Null) => {
                visitor.visit_map(self.entries(false, Some(fields)))
            }
            Source::Missing { quiet } => visitor.visit_map(self.entries(quiet, Some(fields))),
            Source::Node(_) => {
                self.wrong("a mapping of keys to values");
                visitor.visit_map(self.entries(true, Some(fields)))
            }
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Abort> {
        Err(Abort(format!(
            "the environment file has no enum fields ({name})"
        )))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Abort> {
        visitor.visit_unit()
    }
}

/// The entries of a mapping, handed to a struct's or a map's visitor. Unknown and
/// repeated keys are reported and skipped; a struct's fields the file leaves out are
/// handed over as missing, so an optional one reads as `None` and a required one is
/// reported (and read as a placeholder) instead of failing the whole struct.
struct Entries<'a> {
    parent: De<'a>,
    entries: std::slice::Iter<'a, Entry>,
    fields: Option<&'static [&'static str]>,
    seen: Vec<&'a str>,
    missing: Option<std::vec::IntoIter<&'static str>>,
    quiet: bool,
    pending: Option<De<'a>>,
}

impl<'de, 'a> MapAccess<'de> for Entries<'a> {
    type Error = Abort;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Abort> {
        for entry in self.entries.by_ref() {
            let Some(key) = entry.key.as_deref() else {
                self.parent.problem(
                    Some(entry.at),
                    "expected a key name here, found an empty or composite key".into(),
                    false,
                );
                continue;
            };
            let child = self
                .parent
                .child(key, Source::Node(&entry.value), Some(entry.at));
            if self.seen.contains(&key) {
                child.problem(
                    Some(entry.at),
                    format!("duplicate key `{key}`: each key may appear once"),
                    false,
                );
                continue;
            }
            self.seen.push(key);
            if let Some(fields) = self.fields
                && !fields.contains(&key)
            {
                child.problem(Some(entry.at), unknown_key(key, fields), false);
                continue;
            }
            self.pending = Some(child);
            return seed.deserialize(StrDeserializer::new(key)).map(Some);
        }
        let Some(fields) = self.fields else {
            return Ok(None);
        };
        let seen = &self.seen;
        let missing = self.missing.get_or_insert_with(|| {
            fields
                .iter()
                .copied()
                .filter(|f| !seen.contains(f))
                .collect::<Vec<_>>()
                .into_iter()
        });
        match missing.next() {
            Some(field) => {
                let quiet = self.quiet;
                self.pending = Some(self.parent.child(
                    field,
                    Source::Missing { quiet },
                    self.parent.key_at,
                ));
                seed.deserialize(StrDeserializer::new(field)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Abort> {
        let value = self
            .pending
            .take()
            .ok_or_else(|| Abort("a value was read before its key".into()))?;
        seed.deserialize(value)
    }
}

/// The message for a key a struct does not have.
fn unknown_key(key: &str, fields: &[&str]) -> String {
    let mut message = format!("unknown key `{key}`");
    if let Some(best) = super::did_you_mean(key, fields) {
        message.push_str(&format!(", did you mean `{best}`?"));
    } else if !fields.is_empty() {
        message.push_str(&format!(", expected one of: {}", fields.join(", ")));
    }
    message
}

/// The items of a list.
struct Items<'a> {
    parent_path: String,
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
    problems: &'a RefCell<Vec<Problem>>,
}

impl<'a> Items<'a> {
    fn new(parent: &De<'a>, items: &'a [Node]) -> Self {
        Self {
            parent_path: parent.path.clone(),
            items: items.iter().enumerate(),
            problems: parent.problems,
        }
    }
}

impl<'de, 'a> SeqAccess<'de> for Items<'a> {
    type Error = Abort;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Abort> {
        match self.items.next() {
            Some((i, item)) => seed
                .deserialize(De {
                    source: Source::Node(item),
                    path: format!("{}[{i}]", self.parent_path),
                    key_at: Some(item.at),
                    problems: self.problems,
                })
                .map(Some),
            None => Ok(None),
        }
    }
}
