//! Reading an environment file: YAML syntax, shape and unknown keys, each error with
//! file, line, column and key path. Semantic checks come later, in [`crate::model`].

use std::fmt;
use std::path::{Path, PathBuf};

use super::EnvironmentSpec;
use super::fields::fields_at;
use super::locate::KeyIndex;

/// One problem in an environment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as the user named it.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(u64, u64)>,
    /// Key path such as `services.orders.replicas.max`; empty for a syntax error.
    pub key: String,
    /// What is wrong, lower-case, no trailing period.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one environment file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A parsed environment file, with what is needed to point back into it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file, as the user named it.
    pub file: PathBuf,
    /// The parsed content.
    pub spec: EnvironmentSpec,
    /// Positions of its keys.
    pub index: KeyIndex,
}

impl Loaded {
    /// An error about `key`, located in the file.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            position: self.index.locate(key),
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Reads and parses `file`. IO errors are returned as they are; everything wrong with the
/// content comes back as [`ConfigErrors`].
pub fn load(file: &Path) -> std::io::Result<Result<Loaded, ConfigErrors>> {
    let source = std::fs::read_to_string(file)?;
    Ok(load_str(file, &source))
}

/// Parses `source`, reported as coming from `file`.
pub fn load_str(file: &Path, source: &str) -> Result<Loaded, ConfigErrors> {
    let index = KeyIndex::build(source);
    let mut unknown = Vec::new();
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
    };
    // Where a shape error happened; the error itself (with its position) is returned
    // through the parser so that it does not go on to complain about the unread rest.
    let mut failed_at = None;
    let parsed = serde_saphyr::with_deserializer_from_str_with_options(source, options, |de| {
        let mut record = |path: serde_ignored::Path<'_>| unknown.push(segments(&path));
        let ignoring = serde_ignored::Deserializer::new(de, &mut record);
        serde_path_to_error::deserialize::<_, EnvironmentSpec>(ignoring).map_err(|e| {
            let key = e.path().to_string();
            // `?` stands for a map key serde had not read yet (a duplicate key).
            let key = key.trim_end_matches(".?").trim_end_matches('?');
            failed_at = Some(if key == "." {
                String::new()
            } else {
                key.to_owned()
            });
            e.into_inner()
        })
    });
    let error_at = |key: String, position: Option<(u64, u64)>, message: String| ConfigError {
        file: file.to_owned(),
        position: position.or_else(|| index.locate(&key)),
        key,
        message,
    };
    let mut errors = Vec::new();
    let spec = match parsed {
        Err(error) => {
            let key = failed_at.take().unwrap_or_default();
            errors.push(error_at(key, position(&error), message(&error)));
            None
        }
        Ok(spec) => Some(spec),
    };
    for path in &unknown {
        let (name, parent) = path.split_last().expect("an ignored key has a name");
        let key = display_path(path);
        let mut message = format!("unknown key `{name}`");
        let expected = fields_at::<EnvironmentSpec>(parent);
        if let Some(best) = did_you_mean(name, expected) {
            message.push_str(&format!(", did you mean `{best}`?"));
        } else if !expected.is_empty() {
            message.push_str(&format!(", expected one of: {}", expected.join(", ")));
        }
        errors.push(error_at(key, None, message));
    }
    match spec {
        Some(spec) if errors.is_empty() => Ok(Loaded {
            file: file.to_owned(),
            spec,
            index,
        }),
        _ => {
            sort_by_position(&mut errors);
            Err(ConfigErrors(errors))
        }
    }
}

/// Sorts errors into file order, keeping the order of errors on the same line.
/// Drops exact repeats: a bad value in `defaults` is found once per service.
pub(crate) fn sort_by_position(errors: &mut Vec<ConfigError>) {
    errors.sort_by_key(|e| e.position.unwrap_or((u64::MAX, 0)));
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.to_string()));
}

/// The closest expected name, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(name, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn segments(path: &serde_ignored::Path<'_>) -> Vec<String> {
    use serde_ignored::Path;
    match path {
        Path::Root => Vec::new(),
        Path::Seq { parent, index } => {
            let mut out = segments(parent);
            out.push(index.to_string());
            out
        }
        Path::Map { parent, key } => {
            let mut out = segments(parent);
            out.push(key.clone());
            out
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segments(parent),
    }
}

/// `["chaos", "experiments", "0", "dely"]` as `chaos.experiments[0].dely`.
fn display_path(segments: &[String]) -> String {
    let mut out = String::new();
    for segment in segments {
        if segment.parse::<usize>().is_ok() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

fn position(error: &serde_saphyr::Error) -> Option<(u64, u64)> {
    error
        .location()
        .map(|l| (l.line(), l.column()))
        .filter(|&(line, _)| line > 0)
}

/// The error's message without the source snippet and position the crate adds.
fn message(error: &serde_saphyr::Error) -> String {
    let rendered = error.without_snippet().to_string();
    let first = rendered.lines().next().unwrap_or_default().trim();
    // Positions are reported in our own `file:line:column:` prefix.
    let first = match first.find(" at line ") {
        Some(cut) => &first[..cut],
        None => first,
    };
    let first = first.trim_end_matches('.');
    // Say what is wanted in the words of the file, not of the Rust type behind it.
    if let Some(rest) = first.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest);
        return format!("duplicate key `{key}`: each key may appear once");
    }
    if first.starts_with("invalid u") || first.starts_with("invalid i") {
        return "must be a whole number".to_owned();
    }
    if first == "expected mapping start" {
        return "expected a mapping of keys to values here".to_owned();
    }
    if first == "unexpected end of input" {
        return "the file ends before `name` and `namespace` are set".to_owned();
    }
    first.to_owned()
}
