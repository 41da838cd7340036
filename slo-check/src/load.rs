//! Reading `--slos`: a file, or a folder read recursively; every YAML document in it
//! (a `---` stream, or a top-level list of documents as `oslo` and the OpenSLO SDK write
//! them); each document's format told from its own `apiVersion`/`kind`/`version`; the
//! document handed to its format's reader; objects of other tools skipped with a note.
//! Every problem of every file is reported at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_saphyr::budget::BudgetBreach;

use crate::definition::SloDefinition;
use crate::error::{SpecError, SpecErrors};
use crate::span::Span;
use crate::yaml::Node;
use crate::{openslo, pyrra, sloth};

/// The most documents one file may hold. A definition file rarely holds more than a few
/// hundred; the limit stops a file of empty documents from taking the run's memory.
pub const MAX_DOCUMENTS: usize = 10_000;
/// The largest file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// What `--slos` held.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The SLOs, in file order.
    pub slos: Vec<SloDefinition>,
    /// What was read but skipped, one line each (`file:line: skipped ...`).
    pub notes: Vec<String>,
}

/// One document of an input file.
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    /// The file, as the user named it.
    pub file: &'a Path,
    /// The document: a mapping (an item of a top-level list is a document of its own).
    pub root: &'a Node,
}

impl Document<'_> {
    /// A problem at `node`'s line, under `key` (`spec.objectives[0].target`).
    pub fn error(&self, node: &Node, key: &str, message: impl Into<String>) -> SpecError {
        SpecError {
            file: self.file.to_owned(),
            line: (node.line > 0).then_some(node.line),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// The file, for [`SloDefinition::origin`].
    pub fn origin(&self) -> String {
        self.file.display().to_string()
    }

    /// `file:line key`: where a query was written, for [`SloDefinition::sources`].
    pub fn source(&self, node: &Node, key: &str) -> String {
        format!("{}:{} {key}", self.file.display(), node.line)
    }

    /// `file:line`, for notes.
    pub fn place(&self) -> String {
        format!("{}:{}", self.file.display(), self.root.line)
    }
}

/// The formats `--slos` reads, told apart by each document's own header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `apiVersion: openslo/v1` (or `openslo/v1alpha`).
    OpenSlo,
    /// Sloth's own file: `version: prometheus/v1`.
    Sloth,
    /// Sloth's Kubernetes resource: `sloth.slok.dev/v1` `PrometheusServiceLevel`.
    SlothKubernetes,
    /// Pyrra's `pyrra.dev/v1alpha1` `ServiceLevelObjective`.
    Pyrra,
    /// A Kubernetes object of another kind (a ConfigMap, a Deployment, another CRD).
    Foreign {
        /// Its `apiVersion`.
        api_version: String,
        /// Its `kind`.
        kind: String,
    },
}

/// The format of one document, or why it has none slo-check knows.
pub fn detect(root: &Node) -> Result<Format, String> {
    let text = |key: &str| root.get(key).and_then(Node::as_str).map(str::trim);
    let (api_version, kind, version) = (text("apiVersion"), text("kind"), text("version"));
    match (api_version, kind) {
        (Some(a), _) if a.starts_with("openslo/") => Ok(Format::OpenSlo),
        (Some("sloth.slok.dev/v1"), Some("PrometheusServiceLevel")) => Ok(Format::SlothKubernetes),
        (Some("pyrra.dev/v1alpha1"), Some("ServiceLevelObjective")) => Ok(Format::Pyrra),
        (Some(a), Some(k)) => Ok(Format::Foreign {
            api_version: a.to_owned(),
            kind: k.to_owned(),
        }),
        (None, _) if version == Some("prometheus/v1") => Ok(Format::Sloth),
        (None, _) if version.is_some() => Err(format!(
            "`version: {}` is not a format slo-check reads: Sloth files say `version: prometheus/v1`",
            version.unwrap_or_default()
        )),
        (Some(_), None) => {
            Err("missing `kind`: every document with an `apiVersion` names its kind".into())
        }
        (None, _) => Err(
            "not an SLO definition: no `apiVersion` and `kind` (OpenSLO, Sloth's Kubernetes \
             resource, Pyrra) nor `version` (a Sloth file)"
                .into(),
        ),
    }
}

/// Every YAML file under `path` (a file, or a folder read recursively), in path order.
fn files(path: &Path) -> Result<Vec<PathBuf>, SpecError> {
    let meta =
        std::fs::metadata(path).map_err(|e| SpecError::file(path, format!("cannot read: {e}")))?;
    if meta.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| SpecError::file(&dir, format!("cannot read: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| SpecError::file(&dir, format!("cannot read: {e}")))?;
            let p = entry.path();
            // A mounted ConfigMap holds each file twice more under `..data` and
            // `..<timestamp>`; hidden entries are never definitions.
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if is_yaml(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `.yaml` or `.yml`, in any case (`.YAML` files come from Windows editors).
fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// The documents of one file's text: a stream's documents, a top-level list's items.
fn documents(file: &Path, text: &str) -> Result<Vec<Node>, SpecError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: MAX_DOCUMENTS,
            max_nodes: 10_000_000,
            max_events: 20_000_000,
        },
    };
    let parsed: Vec<Option<Node>> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| SpecError {
            file: file.to_owned(),
            line: e.location().map(|l| l.line()),
            key: String::new(),
            message: yaml_error(&e),
        })?;
    let mut out = Vec::new();
    for node in parsed.into_iter().flatten() {
        match node.value {
            crate::yaml::Value::Seq(items) => out.extend(items),
            crate::yaml::Value::Null => {}
            _ => out.push(node),
        }
    }
    Ok(out)
}

/// A parser error in words: its first line without the parser's position (the error
/// carries the line), and its input limits as slo-check's own.
fn yaml_error(e: &serde_saphyr::Error) -> String {
    let e = e.without_snippet();
    if let serde_saphyr::Error::Budget { breach, .. } = e {
        return match breach {
            BudgetBreach::Documents { .. } => format!(
                "more than {MAX_DOCUMENTS} YAML documents in one file, slo-check's limit: split the file"
            ),
            BudgetBreach::Depth { .. } => "nested too deeply to be an SLO definition".into(),
            BudgetBreach::Aliases { .. } | BudgetBreach::Anchors { .. } => {
                "too many YAML aliases or anchors to be an SLO definition".into()
            }
            _ => "too large to be read as SLO definitions".into(),
        };
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or(&text);
    // `line 3 column 1: did not find expected key` -> the message alone.
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let message = match first.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest,
        _ => first,
    };
    format!("not valid YAML: {message}")
}

/// Reads every SLO under `path`, or every problem found; Sloth SLOs, whose files do not
/// state their period, get `sloth_period`.
pub fn load(path: &Path, sloth_period: Span) -> Result<Loaded, SpecErrors> {
    let mut errors = Vec::new();
    let mut parsed: Vec<(PathBuf, Vec<Node>)> = Vec::new();
    for file in files(path).map_err(|e| SpecErrors(vec![e]))? {
        match std::fs::metadata(&file) {
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                errors.push(SpecError::file(
                    &file,
                    format!(
                        "{} bytes is more than slo-check reads from one file ({MAX_FILE_BYTES})",
                        m.len()
                    ),
                ));
                continue;
            }
            _ => {}
        }
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                errors.push(SpecError::file(&file, format!("cannot read: {e}")));
                continue;
            }
        };
        match documents(&file, &text) {
            Ok(docs) => parsed.push((file, docs)),
            Err(e) => errors.push(e),
        }
    }
    let mut loaded = Loaded::default();
    let mut openslo_docs = Vec::new();
    for (file, docs) in &parsed {
        for root in docs {
            let doc = Document { file, root };
            if root.as_map().is_none() {
                errors.push(doc.error(
                    root,
                    "",
                    format!(
                        "a document must be a mapping (`apiVersion: ...`), not {}",
                        root.kind()
                    ),
                ));
                continue;
            }
            match detect(root) {
                Ok(Format::OpenSlo) => openslo_docs.push(doc),
                Ok(Format::Foreign { api_version, kind }) => loaded.notes.push(format!(
                    "{}: skipped `{api_version}` `{kind}`: not an SLO definition",
                    doc.place()
                )),
                Ok(format) => match by_format(&doc, &format, sloth_period) {
                    Ok(defs) => loaded.slos.extend(defs),
                    Err(e) => errors.extend(e),
                },
                Err(message) => errors.push(doc.error(root, "", message)),
            }
        }
    }
    let openslo = openslo::read(&openslo_docs);
    loaded.slos.extend(openslo.slos);
    loaded.notes.extend(openslo.notes);
    errors.extend(openslo.errors);
    // Reports and verdicts are keyed by name: the second of two is pointed at where its
    // name is written, with the first's place.
    let mut seen: HashMap<String, String> = HashMap::new();
    for def in &loaded.slos {
        let (line, key) = match &def.named_at {
            Some((line, key)) => (Some(*line).filter(|l| *l > 0), key.clone()),
            None => (None, "metadata.name".to_owned()),
        };
        let place = match line {
            Some(l) => format!("{}:{l}", def.origin),
            None => def.origin.clone(),
        };
        if let Some(first) = seen.get(&def.name) {
            errors.push(SpecError {
                file: PathBuf::from(&def.origin),
                line,
                key,
                message: format!("SLO `{}` is defined twice (first at {first})", def.name),
            });
        } else {
            seen.insert(def.name.clone(), place);
        }
    }
    // File order, whichever document an error was found from.
    errors.sort_by(|a, b| a.file.cmp(&b.file).then(a.line.cmp(&b.line)));
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(SpecErrors(errors))
    }
}

/// The definitions of one document of a format read document by document.
fn by_format(
    doc: &Document<'_>,
    format: &Format,
    sloth_period: Span,
) -> Result<Vec<SloDefinition>, Vec<SpecError>> {
    match format {
        Format::Sloth | Format::SlothKubernetes => sloth::definitions(doc, sloth_period),
        Format::Pyrra => pyrra::definitions(doc),
        // Read together with the other OpenSLO documents (references), or skipped.
        Format::OpenSlo | Format::Foreign { .. } => Ok(Vec::new()),
    }
}
