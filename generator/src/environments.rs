//! The environments folder, read once: every `*.yaml` file, keyed by the environment's
//! name (the file's stem), parsed; then validated, each environment also against the
//! others (a namespace, host or Application two of them claim), with one result per
//! environment. The folder is the only place names come from: a command line names an
//! environment, never a path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kubestore_core::model::{self, Environment};
use kubestore_core::spec::{self, ConfigErrors, Loaded};

use crate::cli::Selection;
use crate::error::{Error, io_error};

/// An environment's validation result.
pub type Checked = Result<Environment, ConfigErrors>;

/// The environment files of one folder.
pub struct Environments {
    dir: PathBuf,
    files: BTreeMap<String, EnvironmentFile>,
}

/// One environment's file: where it is, and what reading it gave.
struct EnvironmentFile {
    path: PathBuf,
    read: std::io::Result<Result<Loaded, ConfigErrors>>,
}

impl Environments {
    /// Lists and parses every `*.yaml` file of `dir`. A file that cannot be read is kept
    /// as such: only a command that names it fails for it.
    pub fn read(dir: &Path) -> Result<Self, Error> {
        let entries = std::fs::read_dir(dir).map_err(io_error(dir))?;
        let mut files = BTreeMap::new();
        for entry in entries {
            let path = entry.map_err(io_error(dir))?.path();
            if path.extension().is_some_and(|e| e == "yaml")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                let read = spec::load(&path);
                files.insert(stem.to_owned(), EnvironmentFile { path, read });
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            files,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every environment's name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    /// Names of the environments a selection means, checked to exist.
    pub fn select(&self, selection: &Selection) -> Result<Vec<String>, Error> {
        if selection.all {
            if self.files.is_empty() {
                return Err(Error::Usage(format!(
                    "no environment files (*.yaml) in {}",
                    self.dir.display()
                )));
            }
            return Ok(self.names());
        }
        for name in &selection.envs {
            self.file(name)?;
        }
        let mut names = selection.envs.clone();
        names.dedup();
        Ok(names)
    }

    fn file(&self, name: &str) -> Result<&EnvironmentFile, Error> {
        self.files.get(name).ok_or_else(|| {
            Error::Usage(format!(
                "no environment `{name}`: {} has no {name}.yaml (found: {})",
                self.dir.display(),
                self.names().join(", ")
            ))
        })
    }

    /// Validates the environments `names`, each also against every other environment of
    /// the folder: one result per name, in order. Only a named file that cannot be read,
    /// or a name the folder does not have, stops it.
    pub fn check(&self, names: &[String]) -> Result<Vec<(String, Checked)>, Error> {
        let readable: Vec<&Loaded> = self
            .files
            .values()
            .filter_map(|f| f.read.as_ref().ok()?.as_ref().ok())
            .collect();
        let conflicts = model::conflicts(&readable);
        let mut out = Vec::new();
        for name in names {
            let file = self.file(name)?;
            let read = file.read.as_ref().map_err(|e| Error::Io {
                path: file.path.clone(),
                source: std::io::Error::new(e.kind(), e.to_string()),
            })?;
            let clashes: Vec<_> = conflicts
                .iter()
                .filter(|e| e.file == file.path)
                .cloned()
                .collect();
            let result = match read {
                Err(errors) => Err(errors.clone()),
                Ok(loaded) => Environment::from_loaded(loaded),
            };
            let result = match (result, clashes.is_empty()) {
                (result, true) => result,
                (Ok(_), false) => Err(sorted(clashes)),
                (Err(ConfigErrors(mut errors)), false) => {
                    errors.extend(clashes);
                    Err(sorted(errors))
                }
            };
            out.push((name.clone(), result));
        }
        Ok(out)
    }

    /// The valid environments `names`, or the problems of every invalid one together.
    pub fn load(&self, names: &[String]) -> Result<Vec<Environment>, Error> {
        let mut envs = Vec::new();
        let mut invalid = Vec::new();
        for (_, result) in self.check(names)? {
            match result {
                Ok(env) => envs.push(env),
                Err(errors) => invalid.push(errors),
            }
        }
        if invalid.is_empty() {
            Ok(envs)
        } else {
            Err(Error::Invalid(invalid))
        }
    }

    /// Every environment of the folder, valid, or the problems of every invalid one.
    pub fn load_all(&self) -> Result<Vec<Environment>, Error> {
        self.load(&self.names())
    }

    /// The environment `name`, valid.
    pub fn load_one(&self, name: &str) -> Result<Environment, Error> {
        self.load(&[name.to_owned()]).map(|mut envs| envs.remove(0))
    }
}

fn sorted(mut errors: Vec<spec::ConfigError>) -> ConfigErrors {
    spec::sort_errors(&mut errors);
    ConfigErrors(errors)
}

/// Reads the folder `dir` and loads the environment `name` from it, checked against the
/// others.
pub fn load_environment(dir: &Path, name: &str) -> Result<Environment, Error> {
    Environments::read(dir)?.load_one(name)
}
