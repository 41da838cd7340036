//! Where each key of an environment file stands, so that an error found long after
//! parsing (a bad quantity, min above max) still names its line and column.

use std::collections::BTreeMap;

use super::document::{Node, Position, collect};

/// Line and column (1-based) of every key path in a document, such as
/// `services.orders.replicas.max` or `chaos.experiments[0].service`.
#[derive(Debug, Default, Clone)]
pub struct KeyIndex {
    keys: BTreeMap<String, Position>,
}

impl KeyIndex {
    /// Indexes a parsed document; the first of two duplicate keys wins.
    pub(crate) fn of(root: &Node) -> Self {
        let mut found = Vec::new();
        collect(root, String::new(), &mut found);
        let mut keys = BTreeMap::new();
        for (path, at) in found {
            keys.entry(path).or_insert(at);
        }
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

    /// Whether the file writes `path` itself.
    pub fn contains(&self, path: &str) -> bool {
        self.keys.contains_key(path)
    }
}
