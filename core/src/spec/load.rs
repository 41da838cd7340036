//! Reading an environment file: size, UTF-8, YAML syntax, then its shape (unknown,
//! repeated and missing keys, wrong types), each error with file, line, column and key
//! path. Semantic checks come later, in [`crate::model`], which reports both together.

use std::fmt;
use std::path::{Path, PathBuf};

use super::EnvironmentSpec;
use super::locate::KeyIndex;
use super::{de, document};

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
        // One error, one line: a value with a line break in it is shown escaped.
        write!(
            f,
            ": {}",
            self.message.replace('\r', "\\r").replace('\n', "\\n")
        )
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one environment file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// A parsed environment file, with what is needed to point back into it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file, as the user named it.
    pub file: PathBuf,
    /// The parsed content. Where [`Loaded::problems`] name a key, it holds a placeholder.
    pub spec: EnvironmentSpec,
    /// Positions of its keys.
    pub index: KeyIndex,
    /// What is wrong with the file's shape: unknown, repeated or missing keys and values
    /// of the wrong type. [`crate::model::Environment::from_loaded`] reports them together
    /// with the model's own checks.
    pub problems: Vec<ConfigError>,
    /// Keys whose value in `spec` is a placeholder for a bad one.
    placeholders: Vec<String>,
}

impl Loaded {
    /// A spec built in code rather than read from a file, such as the environment the
    /// rendered base is made of: it has no positions and no problems. It poses as
    /// `<name>.yaml`, the file it would be read from, which its errors name.
    pub fn built_in(spec: EnvironmentSpec) -> Self {
        Self {
            file: PathBuf::from(format!("{}.yaml", spec.name)),
            spec,
            index: KeyIndex::default(),
            problems: Vec::new(),
            placeholders: Vec::new(),
        }
    }

    /// An error about `key`, located in the file.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            position: self.index.locate(key),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// Whether `key` is, or is inside, a value already reported as malformed, so that a
    /// check of its placeholder would only repeat that problem.
    pub fn is_placeholder(&self, key: &str) -> bool {
        self.placeholders.iter().any(|p| {
            p.is_empty()
                || key == p
                || key
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
    }
}

/// The largest environment file read, in bytes. Real ones are a few kilobytes; the limit
/// keeps a wrong file (a log, a dump) from being parsed at all.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Reads and parses `file`. IO errors are returned as they are; everything wrong with the
/// content comes back as [`ConfigErrors`].
pub fn load(file: &Path) -> std::io::Result<Result<Loaded, ConfigErrors>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    // One byte past the limit is enough to know the file is too large.
    std::fs::File::open(file)?
        .take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(load_bytes(file, &bytes))
}

/// Parses the bytes of an environment file, reported as coming from `file`.
pub fn load_bytes(file: &Path, bytes: &[u8]) -> Result<Loaded, ConfigErrors> {
    let fatal = |position, key: String, message: String| {
        Err(ConfigErrors(vec![ConfigError {
            file: file.to_owned(),
            position,
            key,
            message,
        }]))
    };
    if bytes.len() > MAX_FILE_BYTES {
        return fatal(None, String::new(), too_large());
    }
    match std::str::from_utf8(bytes) {
        Ok(source) => load_str(file, source),
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            let valid = std::str::from_utf8(valid).expect("valid up to here");
            let (line, column) = document::position_of(valid, valid.len());
            let key = document::enclosing_key(valid, line);
            let byte = bytes[error.valid_up_to()];
            fatal(
                Some((line, column)),
                key,
                format!("byte 0x{byte:02X} is not UTF-8 text: save the file as UTF-8"),
            )
        }
    }
}

fn too_large() -> String {
    format!(
        "the file is larger than {} KiB, the limit for an environment file",
        MAX_FILE_BYTES / 1024
    )
}

/// Parses `source`, reported as coming from `file`. A syntax error is returned alone
/// (nothing after it can be trusted); every other problem is kept in [`Loaded::problems`].
pub fn load_str(file: &Path, source: &str) -> Result<Loaded, ConfigErrors> {
    let error = |position, key: String, message: String| ConfigError {
        file: file.to_owned(),
        position,
        key,
        message,
    };
    if source.len() > MAX_FILE_BYTES {
        return Err(ConfigErrors(vec![error(None, String::new(), too_large())]));
    }
    let root = match document::parse(source) {
        Ok(root) => root,
        Err(syntax) => {
            let key = syntax
                .at
                .map(|(line, _)| document::enclosing_key(source, line))
                .unwrap_or_default();
            return Err(ConfigErrors(vec![error(syntax.at, key, syntax.message)]));
        }
    };
    match root.value {
        document::Value::Null => {
            return Err(ConfigErrors(vec![error(
                None,
                String::new(),
                "the file ends before `name` and `namespace` are set".into(),
            )]));
        }
        document::Value::Map(_) => {}
        _ => {
            return Err(ConfigErrors(vec![error(
                Some(root.at),
                String::new(),
                "expected a mapping of keys to values here".into(),
            )]));
        }
    }
    let index = KeyIndex::of(&root);
    let (spec, found) = de::read::<EnvironmentSpec>(&root);
    let placeholders = found
        .iter()
        .filter(|p| p.placeholder)
        .map(|p| p.key.clone())
        .collect();
    let mut problems: Vec<ConfigError> = found
        .into_iter()
        .map(|p| {
            let position = p.at.or_else(|| index.locate(&p.key));
            error(position, p.key, p.message)
        })
        .collect();
    sort_by_position(&mut problems);
    Ok(Loaded {
        file: file.to_owned(),
        spec: spec.unwrap_or_default(),
        index,
        problems,
        placeholders,
    })
}

/// Sorts errors into file order, keeping the order of errors on the same line.
/// Drops exact repeats: a bad value in `defaults` is found once per service.
pub fn sort_by_position(errors: &mut Vec<ConfigError>) {
    errors.sort_by_key(|e| e.position.unwrap_or((u64::MAX, 0)));
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.to_string()));
}
