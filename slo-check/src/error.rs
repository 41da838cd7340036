//! Errors in SLO definitions: each names the file, line (when known) and key.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in an SLO definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The file, as the user named it.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// Key path such as `spec.objectives[0].target`; empty for the file as a whole.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl SpecError {
    /// A problem with the file as a whole.
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            key: String::new(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
