//! The baseline on disk: one insta snapshot file per trial, `<dir>/<system>/<scenario>/<cell or
//! path>.snap`, so that `cargo insta review` and `crossgrade run --accept` read and write the same files.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// What the test binary passes to insta as the snapshot's source; written the same way by `--accept`.
pub(crate) const SNAPSHOT_SOURCE: &str = "harness/tests/trials.rs";

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot read the baseline {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an insta snapshot (no `---` header)")]
    Malformed { path: PathBuf },
    #[error("cannot write the baseline {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A folder of trial snapshots.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Folder and snapshot name of a trial: `fixture/basic/node=1.0` → (`<dir>/fixture/basic`,
    /// `node=1.0`). Ids are `system/scenario/rest`; anything else lands under its full id.
    pub fn location(&self, trial_id: &str) -> (PathBuf, String) {
        match trial_id.rsplit_once('/') {
            Some((folder, name)) => (self.dir.join(folder), name.to_string()),
            None => (self.dir.clone(), trial_id.to_string()),
        }
    }

    pub(crate) fn path(&self, trial_id: &str) -> PathBuf {
        let (folder, name) = self.location(trial_id);
        folder.join(format!("{name}.snap"))
    }

    /// The recorded snapshot of a trial, or `None` when it has none yet.
    pub fn read(&self, trial_id: &str) -> Result<Option<String>, StoreError> {
        let path = self.path(trial_id);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Read { path, source }),
        };
        parse_snap(&text)
            .map(|c| Some(c.to_string()))
            .ok_or(StoreError::Malformed { path })
    }

    /// Records `contents` as the trial's baseline, atomically, in insta's format.
    pub fn write(&self, trial_id: &str, contents: &str) -> Result<(), StoreError> {
        let path = self.path(trial_id);
        let text = format!(
            "---\nsource: {SNAPSHOT_SOURCE}\n---\n{}\n",
            contents.trim_end()
        );
        crate::atomic::write_atomic(&path, text.as_bytes())
            .map_err(|source| StoreError::Write { path, source })
    }
}

/// The contents of an insta `.snap` file: what follows its `---` … `---` header, trailing whitespace
/// trimmed (insta compares it so).
pub(crate) fn parse_snap(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    Some(rest[end + 5..].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_splits_the_id() {
        let s = Store::new("/b");
        assert_eq!(
            s.path("fixture/basic/node=1.0,client=2.0"),
            PathBuf::from("/b/fixture/basic/node=1.0,client=2.0.snap")
        );
        assert_eq!(
            s.location("fixture/rolling-upgrade/1.0-to-2.0"),
            (
                PathBuf::from("/b/fixture/rolling-upgrade"),
                "1.0-to-2.0".to_string()
            )
        );
    }

    #[test]
    fn write_then_read_round_trips_in_insta_format() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path());
        assert_eq!(s.read("sys/basic/a=1").unwrap(), None);
        s.write("sys/basic/a=1", "verdict: fail\nstep: 2 x\n")
            .unwrap();
        let raw = std::fs::read_to_string(dir.path().join("sys/basic/a=1.snap")).unwrap();
        assert_eq!(
            raw,
            "---\nsource: harness/tests/trials.rs\n---\nverdict: fail\nstep: 2 x\n"
        );
        assert_eq!(
            s.read("sys/basic/a=1").unwrap().as_deref(),
            Some("verdict: fail\nstep: 2 x")
        );
    }

    #[test]
    fn reads_what_insta_writes() {
        let text = "---\nsource: harness/tests/trials.rs\nexpression: x\n---\nverdict: pass\n";
        assert_eq!(parse_snap(text), Some("verdict: pass"));
        assert_eq!(parse_snap("verdict: pass\n"), None);
    }
}
