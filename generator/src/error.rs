//! What can stop a command, and the exit code each outcome gives.

use std::path::{Path, PathBuf};

use kubestore_core::spec::ConfigErrors;

use crate::output::Difference;

/// What can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more environment files are invalid.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigErrors>),
    /// The tree on disk (or the dashboards beside it) differs from a fresh render.
    #[error("{} is stale: {} file(s) there or in the dashboards beside it differ from a fresh render; run `kubestore-gen render` and commit", .dir.display(), .differences.len())]
    Stale {
        /// The rendered tree's folder.
        dir: PathBuf,
        /// What differs.
        differences: Vec<Difference>,
    },
    /// A file could not be read or written.
    #[error("cannot access {}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The command line names something that does not exist.
    #[error("{0}")]
    Usage(String),
}

/// The process's exit codes besides 0, as `--help` documents them.
pub mod exit {
    /// The answer is no: an environment is invalid or the tree is stale.
    pub const NO: u8 = 1;
    /// No answer could be given: a usage error, or a file that could not be read or written.
    pub const COULD_NOT: u8 = 2;
}

impl Error {
    /// Process exit code, as documented in `--help`.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) | Error::Stale { .. } => exit::NO,
            Error::Io { .. } | Error::Usage(_) => exit::COULD_NOT,
        }
    }
}

/// Makes an [`Error::Io`] about `path`, for `map_err`.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}
