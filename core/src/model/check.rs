//! The one error collector every check of the model reports into. Checks never stop at
//! the first problem: each records its error against the key that holds the bad value and
//! goes on, so a user fixes a file in one round.
//!
//! A check that cannot produce its value returns `Err(`[`Reported`]`)`, and a
//! [`Reported`] exists only once an error is recorded. So when every part of the
//! environment came out `Ok` and nothing was recorded, the environment is valid, and
//! [`Check::finish`] needs no "cannot happen" branch.
//!
//! The loader's shape problems ([`Loaded::problems`]) join the model's errors in
//! [`Check::finish`]; warnings (SLO advice) travel with the value that earned them.

use crate::spec::{ConfigError, ConfigErrors, Loaded};

/// Proof that an error was recorded in a [`Check`]; only [`Check`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reported(());

/// The value of a check, or the proof that its problem was reported.
pub(super) type Checked<T> = Result<T, Reported>;

/// How many errors were recorded at some point, to ask later whether a part added any.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mark(usize);

/// Errors and warnings found in one environment file.
pub(super) struct Check<'a> {
    loaded: &'a Loaded,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl<'a> Check<'a> {
    pub(super) fn new(loaded: &'a Loaded) -> Self {
        Self {
            loaded,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The file being checked.
    pub(super) fn loaded(&self) -> &'a Loaded {
        self.loaded
    }

    /// Records a problem at `key` that stops a render.
    pub(super) fn error(&mut self, key: &str, message: impl Into<String>) -> Reported {
        self.errors.push(self.loaded.error(key, message));
        Reported(())
    }

    /// Records a problem at `key` that does not stop a render.
    pub(super) fn warn(&mut self, key: &str, message: impl Into<String>) {
        self.warnings.push(self.loaded.error(key, message));
    }

    /// Parses `value` found at `key`, recording the parser's message on failure.
    pub(super) fn parse<T>(
        &mut self,
        (value, key): &(String, String),
        parser: fn(&str) -> Result<T, String>,
    ) -> Checked<T> {
        parser(value).map_err(|message| self.error(key, message))
    }

    /// Where the errors stand now.
    pub(super) fn mark(&self) -> Mark {
        Mark(self.errors.len())
    }

    /// `Ok` when no error was recorded since `mark`.
    pub(super) fn clean_since(&self, mark: Mark) -> Checked<()> {
        if self.errors.len() > mark.0 {
            Err(Reported(()))
        } else {
            Ok(())
        }
    }

    /// The warnings recorded so far, in file order.
    pub(super) fn take_warnings(&mut self) -> Vec<ConfigError> {
        let mut warnings = std::mem::take(&mut self.warnings);
        crate::spec::sort_errors(&mut warnings);
        warnings
    }

    /// The value built from the file, or every problem of the file: the model's errors
    /// together with the loader's, in file order.
    pub(super) fn finish<T>(self, built: Checked<T>) -> Result<T, ConfigErrors> {
        let loaded = self.loaded;
        match built {
            Ok(value) if self.errors.is_empty() && loaded.problems.is_empty() => Ok(value),
            _ => {
                // A check of a placeholder would only repeat the problem the reader found.
                let mut errors: Vec<ConfigError> = self
                    .errors
                    .into_iter()
                    .filter(|e| !loaded.is_placeholder(&e.key))
                    .collect();
                errors.extend(loaded.problems.iter().cloned());
                crate::spec::sort_errors(&mut errors);
                Err(ConfigErrors(errors))
            }
        }
    }
}

/// A value in a message, empty text included.
pub(super) fn shown_text(value: &str) -> String {
    if value.is_empty() {
        "an empty value".to_owned()
    } else {
        format!("`{value}`")
    }
}
