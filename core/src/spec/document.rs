//! An environment file's YAML as a tree that remembers where every key and value stands.
//! serde-saphyr parses it once (anchors, merges and scalar types resolved as YAML says);
//! [`super::de`] then reads the spec types from the tree without stopping at a bad value.
//! Only a syntax error stops here, since nothing after it can be trusted.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// 1-based line and column.
pub type Position = (u64, u64);

/// A value and where it stands.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Where the value starts (for a value-less key, just after the key).
    pub at: Position,
    /// The scalar as written in the file, quotes included; empty for collections.
    pub raw: String,
    /// The value.
    pub value: Value,
}

/// A YAML value, with scalars resolved the way serde-saphyr resolves them untyped.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Map(Vec<Entry>),
    Seq(Vec<Node>),
}

/// One key and its value. `key` is `None` for a key that is not a scalar (`? [a, b]`) or
/// is empty (`~: x`), which no spec field can have.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: Option<String>,
    pub at: Position,
    pub value: Node,
}

/// A syntax error: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub at: Option<Position>,
    pub message: String,
}

/// Parses `source` into a tree.
pub(crate) fn parse(source: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        // Duplicates reach the reader, which reports each one and goes on.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        // `.nan` and `.inf` stay text, so the reader names them as written.
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::AsString,
        // Comments are never read, so they are not kept (nor counted against a budget).
        emit_comments: false,
        budget: Some(budget()),
    };
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(source, options) {
        Ok(root) => Ok(convert(source, root)),
        Err(error) => Err(syntax_error(source, &error)),
    }
}

/// The value as serde-saphyr hands it to an untyped visitor.
enum Raw {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
    Seq(Vec<Spanned<Raw>>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(i128::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Raw, E> {
        Ok(Raw::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Raw, D::Error> {
        Raw::deserialize(de)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Raw>>()? {
            entries.push((key, map.next_value::<Spanned<Raw>>()?));
        }
        Ok(Raw::Map(entries))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
}

fn position(location: &serde_saphyr::Location) -> Position {
    (location.line(), location.column())
}

/// The source text a span covers.
fn text_of<'s>(source: &'s str, location: &serde_saphyr::Location) -> &'s str {
    let span = location.span();
    match (span.byte_offset(), span.byte_len()) {
        (Some(start), Some(len)) => source
            .get(start as usize..(start + len) as usize)
            .unwrap_or_default(),
        _ => "",
    }
}

fn convert(source: &str, node: Spanned<Raw>) -> Node {
    let at = position(&node.referenced);
    let raw = match node.value {
        Raw::Map(_) | Raw::Seq(_) => String::new(),
        _ => text_of(source, &node.referenced).to_owned(),
    };
    let value = match node.value {
        Raw::Null => Value::Null,
        Raw::Bool(v) => Value::Bool(v),
        Raw::Int(v) => Value::Int(v),
        Raw::Float(v) => Value::Float(v),
        Raw::Str(v) => Value::Str(v),
        Raw::Seq(items) => Value::Seq(items.into_iter().map(|i| convert(source, i)).collect()),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(key, value)| {
                    let at = position(&key.referenced);
                    let key = match key.value {
                        Raw::Str(s) if !s.is_empty() => Some(s),
                        Raw::Bool(_) | Raw::Int(_) | Raw::Float(_) => {
                            Some(text_of(source, &key.referenced).to_owned())
                        }
                        Raw::Str(_) | Raw::Null | Raw::Map(_) | Raw::Seq(_) => None,
                    };
                    Entry {
                        key,
                        at,
                        value: convert(source, value),
                    }
                })
                .collect(),
        ),
    };
    Node { at, raw, value }
}

/// The limits an environment file is parsed within: serde-saphyr's own, which leave a
/// real environment (a few hundred values) far below every one of them. Messages quote
/// the limits from here, so they always say what was enforced.
fn budget() -> serde_saphyr::Budget {
    serde_saphyr::Budget::default()
}

/// The budget breach behind `error`: a breach met while replaying an alias arrives
/// wrapped in the alias's own error.
fn budget_breach(mut error: &serde_saphyr::Error) -> Option<&serde_saphyr::budget::BudgetBreach> {
    loop {
        match error {
            serde_saphyr::Error::Budget { breach, .. } => return Some(breach),
            serde_saphyr::Error::AliasError { error: inner, .. }
            | serde_saphyr::Error::WithSnippet { error: inner, .. } => error = inner,
            _ => return None,
        }
    }
}

/// A budget breach in words: which limit, and why an environment file has it.
fn breach_in_words(
    breach: &serde_saphyr::budget::BudgetBreach,
    budget: &serde_saphyr::Budget,
) -> String {
    use serde_saphyr::budget::BudgetBreach;
    const BOMBS: &str = "an environment file is limited to protect the generator from alias bombs";
    const HUGE: &str =
        "an environment file is limited to protect the generator from files built to exhaust it";
    match breach {
        BudgetBreach::Nodes { .. } => format!(
            "the file expands to more than {} YAML nodes (aliases included); {BOMBS}",
            budget.max_nodes
        ),
        BudgetBreach::Events { .. } => format!(
            "the file expands to more than {} YAML events (aliases included); {BOMBS}",
            budget.max_events
        ),
        BudgetBreach::Aliases { .. } => format!(
            "the file uses more than {} aliases (`*name`); {BOMBS}",
            budget.max_aliases
        ),
        BudgetBreach::Anchors { .. } => format!(
            "the file defines more than {} anchors (`&name`); {BOMBS}",
            budget.max_anchors
        ),
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => format!(
            "the file uses {aliases} aliases (`*name`) of only {anchors} anchors (`&name`); {BOMBS}"
        ),
        BudgetBreach::RecordedAnchorEvents { .. } | BudgetBreach::RecordedAnchorBytes { .. } => {
            format!("the anchored values (`&name`) are too large to repeat; {BOMBS}")
        }
        BudgetBreach::MergeKeys { .. } => format!(
            "the file uses more than {} merge keys (`<<`); {BOMBS}",
            budget.max_merge_keys
        ),
        BudgetBreach::Depth { .. } => format!(
            "values nest more than {} levels deep; {HUGE}",
            budget.max_depth
        ),
        BudgetBreach::ScalarBytes { .. } => format!(
            "the file's values add up to more than {} bytes of text (aliases included); {BOMBS}",
            budget.max_total_scalar_bytes
        ),
        BudgetBreach::Documents { .. } => format!(
            "the file holds more than {} YAML documents: an environment file is one document",
            budget.max_documents
        ),
        BudgetBreach::SequenceUnbalanced => {
            "a list or mapping closes here that was never opened".into()
        }
        // Input size is checked before parsing, and includes and properties are not
        // enabled: these are only here because the list of breaches is open-ended.
        _ => format!("the file goes beyond what the YAML reader accepts; {HUGE}"),
    }
}

/// A syntax error in the file's words, at the place that needs fixing.
fn syntax_error(source: &str, error: &serde_saphyr::Error) -> SyntaxError {
    let error = error.without_snippet();
    let at = error
        .location()
        .map(|l| position(&l))
        .filter(|&(line, _)| line > 0);
    let rendered = error.to_string();
    let first = rendered.lines().next().unwrap_or_default().trim();
    // Positions are reported in our own `file:line:column:` prefix.
    let first = first.find(" at line ").map_or(first, |cut| &first[..cut]);
    let first = first.trim_end_matches('.');
    if let serde_saphyr::Error::MultipleDocuments { .. } = error {
        return SyntaxError {
            at,
            message: "a second YAML document starts here: an environment file is one document"
                .into(),
        };
    }
    if let Some(breach) = budget_breach(error) {
        return SyntaxError {
            at,
            message: breach_in_words(breach, &budget()),
        };
    }
    if first.contains("tab") {
        // The scanner notices a tab only once it is past it, sometimes a line early: point
        // at the tab itself.
        let from = at.map_or(0, |(line, _)| line_start(source, line));
        if let Some(tab) = source[from..].find('\t') {
            return SyntaxError {
                at: Some(position_of(source, from + tab)),
                message: "a tab here: YAML indents with spaces only".into(),
            };
        }
    }
    if first == "unclosed quote" || first.contains("quoted scalar") {
        // A quote left open swallows the lines after it, so the scanner complains where
        // it gives up: point at the quote that opened it.
        if let Some(quote) = open_quote(source, at.map_or(u64::MAX, |(line, _)| line)) {
            return SyntaxError {
                at: Some(position_of(source, quote)),
                message: "the quoted value that starts here has no closing quote".into(),
            };
        }
    }
    // A bracket never closed makes the scanner give up lines later, with whatever it
    // met there; a bracket that is closed leaves the scanner's own message and place.
    let error_offset = at.map_or(source.len(), |(line, column)| {
        let start = line_start(source, line);
        source[start..]
            .char_indices()
            .nth(column.saturating_sub(1) as usize)
            .map_or(source.len(), |(i, _)| start + i)
    });
    {
        if let Some((offset, open)) = open_bracket(source).filter(|(o, _)| *o <= error_offset) {
            let close = if open == '{' { '}' } else { ']' };
            return SyntaxError {
                at: Some(position_of(source, offset)),
                message: format!("the `{open}` that starts here is not closed with `{close}`"),
            };
        }
    }
    let message = match first {
        m if m.ends_with("did not find expected ',' or '}'") => {
            "expected `,` or `}` here: the entries of a `{...}` mapping are separated by `,`"
                .to_owned()
        }
        m if m.ends_with("did not find expected ',' or ']'") => {
            "expected `,` or `]` here: the items of a `[...]` list are separated by `,`".to_owned()
        }
        "alias references unknown anchor" => {
            "this alias (`*name`) refers to no anchor (`&name`) defined before it".to_owned()
        }
        other => other.to_owned(),
    };
    SyntaxError { at, message }
}

/// Byte offset of the last quote opened and not closed on its line, on or before `line`.
fn open_quote(source: &str, line: u64) -> Option<usize> {
    let mut found = None;
    let mut offset = 0;
    for (number, text) in source.split_inclusive('\n').enumerate() {
        if number as u64 >= line {
            break;
        }
        let doubles: Vec<usize> = text
            .match_indices('"')
            .filter(|(i, _)| !text[..*i].ends_with('\\'))
            .map(|(i, _)| i)
            .collect();
        if doubles.len() % 2 == 1 {
            found = doubles.last().map(|i| offset + i);
        } else if let Some(start) = text.find(": '")
            && text[start + 3..].matches('\'').count() % 2 == 0
        {
            found = Some(offset + start + 2);
        }
        offset += text.len();
    }
    found
}

/// The innermost `{` or `[` never closed in `source`, outside quotes and comments.
fn open_bracket(source: &str) -> Option<(usize, char)> {
    let mut open = Vec::new();
    for (offset, line) in source.split_inclusive('\n').scan(0, |at, line| {
        let start = *at;
        *at += line.len();
        Some((start, line))
    }) {
        let mut quote = None;
        let mut previous = ' ';
        // The last character that was not a space: a bracket opens a collection only
        // where a value starts, not inside a plain scalar such as `a[1`.
        let mut significant = None;
        for (i, ch) in line.char_indices() {
            match (quote, ch) {
                (Some(q), c) if c == q && previous != '\\' => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') if " \t{[,:".contains(previous) => quote = Some(ch),
                (None, '#') if previous.is_whitespace() => break,
                (None, '{' | '[') if significant.is_none_or(|c| ":-[{,".contains(c)) => {
                    open.push((offset + i, ch))
                }
                (None, '}' | ']') => match open.last() {
                    Some((_, o)) if (*o == '{') == (ch == '}') => {
                        open.pop();
                    }
                    // Closed by the wrong bracket: the open one is what was left open.
                    Some(&unclosed) => return Some(unclosed),
                    None => {}
                },
                _ => {}
            }
            previous = ch;
            if !ch.is_whitespace() {
                significant = Some(ch);
            }
        }
    }
    open.pop()
}

/// Byte offset where 1-based `line` starts (the end of the text past the last line).
fn line_start(source: &str, line: u64) -> usize {
    if line <= 1 {
        return 0;
    }
    source
        .match_indices('\n')
        .nth(line as usize - 2)
        .map_or(source.len(), |(i, _)| i + 1)
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn position_of(source: &str, offset: usize) -> Position {
    let before = &source[..offset];
    let line = before.matches('\n').count() as u64 + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() as u64 + 1)
}

/// The key path a syntax error on `line` is most likely under, read from the lines before
/// it (which parse on their own in the usual case): the last key left of the line's
/// indentation, plus the key the line itself starts with.
pub(crate) fn enclosing_key(source: &str, line: u64) -> String {
    let start = line_start(source, line);
    let text = source[start..].lines().next().unwrap_or_default();
    let body = text.trim_start_matches([' ', '\t']);
    let indent = (text.len() - body.len()) as u64 + 1;
    let own = body
        .trim_start_matches("- ")
        .split_once(':')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || "_-".contains(c)));
    let mut path = String::new();
    if let Ok(prefix) = parse(&source[..start]) {
        let mut keys = Vec::new();
        collect(&prefix, String::new(), &mut keys);
        if let Some((parent, _)) = keys
            .iter()
            .filter(|(_, (l, c))| *l < line && *c < indent)
            .max_by_key(|(_, at)| *at)
        {
            path = parent.clone();
        }
    }
    if let Some(own) = own {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(own);
    }
    path
}

/// Every key path of a tree and where its key stands; sequence items are paths too.
pub(crate) fn collect(node: &Node, prefix: String, out: &mut Vec<(String, Position)>) {
    match &node.value {
        Value::Map(entries) => {
            for entry in entries {
                let Some(key) = &entry.key else { continue };
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                out.push((path.clone(), entry.at));
                collect(&entry.value, path, out);
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("{prefix}[{i}]");
                out.push((path.clone(), item.at));
                collect(item, path, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_from_one() {
        let source = "a: 1\nbé: x\n";
        assert_eq!(position_of(source, 0), (1, 1));
        assert_eq!(position_of(source, source.find('x').unwrap()), (2, 5));
        assert_eq!(line_start(source, 2), 5);
    }

    #[test]
    fn the_enclosing_key_comes_from_the_lines_before() {
        let source = "name: x\ndefaults:\n  replicas:\n    min: \"2\n";
        assert_eq!(enclosing_key(source, 4), "defaults.replicas.min");
        assert_eq!(enclosing_key("a: [1\n", 1), "a");
    }

    #[test]
    fn only_brackets_that_open_a_collection_count() {
        assert_eq!(open_bracket("a: {b: [1, 2]}\n"), None);
        assert_eq!(open_bracket("a: {b: 1\n"), Some((3, '{')));
        assert_eq!(open_bracket("a: x[1\nb: \"[\"\n# [\n"), None);
        assert_eq!(open_bracket("a: {b: [1}\n"), Some((7, '[')));
    }

    #[test]
    fn an_open_quote_is_found_on_its_own_line() {
        let source = "a: 1\nb: \"x\nc: 2\n";
        assert_eq!(open_quote(source, 3), Some(8));
        assert_eq!(open_quote("a: \"x\" \nb: 'it''s'\n", 9), None);
    }
}
