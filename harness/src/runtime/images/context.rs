//! Build contexts: what is sent to the engine (the context directory less `.git` and what
//! `.dockerignore` leaves out), its digest for the build hash, and the tar archive of it.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::dockerignore::Ignore;
use super::error::{io_err, BuildError};
use super::hash::feed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Dir,
    File,
    Symlink,
}

#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// Relative to the context, `/`-separated.
    pub(super) rel: String,
    kind: EntryKind,
    /// Where it is read from when it is not under the context (an included file).
    source: Option<std::path::PathBuf>,
}

/// What is sent as a build context, and the digest of it.
pub(super) struct ContextScan {
    pub(super) entries: Vec<Entry>,
    pub(super) digest: [u8; 32],
}

impl ContextScan {
    /// A context with nothing in it (a Dockerfile the harness provides is added to the archive).
    pub(super) fn empty() -> ContextScan {
        let mut h = Sha256::new();
        h.update(b"crossgrade context v1\0");
        ContextScan {
            entries: vec![],
            digest: h.finalize().into(),
        }
    }
}

/// Lists the context (skipping `.git` directories and what `.dockerignore` leaves out, but always
/// keeping the Dockerfile) and digests it: every entry's path, file modes and contents, symlink
/// targets.
/// `include`: files from outside the context, sent at its root under their own names.
pub(super) fn scan_context(
    context: &Path,
    dockerfile: Option<&str>,
    include: &[std::path::PathBuf],
) -> Result<ContextScan, BuildError> {
    let ignore_path = context.join(".dockerignore");
    let ignore = match fs::read_to_string(&ignore_path) {
        Ok(text) => Ignore::parse(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ignore::parse(""),
        Err(e) => return Err(io_err("reading", &ignore_path)(e)),
    };
    let mut entries = Vec::new();
    walk(context, "", &ignore, &mut entries)?;
    if let Some(df) = dockerfile {
        if !entries.iter().any(|e| e.rel == df) {
            entries.push(Entry {
                rel: df.to_string(),
                kind: EntryKind::File,
                source: None,
            });
        }
    }
    for file in include {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        entries.retain(|e| e.rel != name);
        entries.push(Entry {
            rel: name,
            kind: EntryKind::File,
            source: Some(file.clone()),
        });
    }
    entries.sort_by(|a, b| a.rel.cmp(&b.rel));

    let mut h = Sha256::new();
    h.update(b"crossgrade context v1\0");
    let mut buf = vec![0u8; 1 << 16];
    for e in &entries {
        let path = e.path_in(context);
        match e.kind {
            EntryKind::Dir => {
                h.update(b"D");
                feed(&mut h, e.rel.as_bytes());
            }
            EntryKind::Symlink => {
                let target = fs::read_link(&path).map_err(io_err("reading the symlink", &path))?;
                h.update(b"L");
                feed(&mut h, e.rel.as_bytes());
                feed(&mut h, target.as_os_str().as_encoded_bytes());
            }
            EntryKind::File => {
                use std::os::unix::fs::PermissionsExt;
                let mut file = fs::File::open(&path).map_err(io_err("reading", &path))?;
                let md = file.metadata().map_err(io_err("reading", &path))?;
                h.update(b"F");
                feed(&mut h, e.rel.as_bytes());
                h.update((md.permissions().mode() & 0o7777).to_le_bytes());
                h.update(md.len().to_le_bytes());
                let mut total: u64 = 0;
                loop {
                    let n = file.read(&mut buf).map_err(io_err("reading", &path))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                    total += n as u64;
                }
                h.update(total.to_le_bytes());
            }
        }
    }
    Ok(ContextScan {
        entries,
        digest: h.finalize().into(),
    })
}

fn walk(root: &Path, dir: &str, ignore: &Ignore, out: &mut Vec<Entry>) -> Result<(), BuildError> {
    let abs = root.join(dir);
    let mut children: Vec<fs::DirEntry> = fs::read_dir(&abs)
        .and_then(|rd| rd.collect::<io::Result<Vec<_>>>())
        .map_err(io_err("listing the build context directory", &abs))?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let name = child.file_name().to_string_lossy().into_owned();
        let rel = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        let ft = child
            .file_type()
            .map_err(io_err("reading", &child.path()))?;
        let excluded = ignore.excluded(&rel);
        if ft.is_dir() {
            if name == ".git" {
                continue;
            }
            if !excluded {
                out.push(Entry {
                    rel: rel.clone(),
                    kind: EntryKind::Dir,
                    source: None,
                });
            }
            if !excluded || ignore.has_exceptions {
                walk(root, &rel, ignore, out)?;
            }
        } else if !excluded {
            let kind = if ft.is_symlink() {
                EntryKind::Symlink
            } else if ft.is_file() {
                EntryKind::File
            } else {
                continue; // sockets, fifos, devices: not sent
            };
            out.push(Entry {
                rel,
                kind,
                source: None,
            });
        }
    }
    Ok(())
}

impl Entry {
    fn path_in(&self, context: &Path) -> std::path::PathBuf {
        self.source
            .clone()
            .unwrap_or_else(|| context.join(&self.rel))
    }
}

/// The context as a tar archive (symlinks kept as symlinks), plus a Dockerfile from outside it.
pub(super) fn tar_context(
    context: &Path,
    entries: &[Entry],
    extra: Option<(String, String)>,
) -> io::Result<Vec<u8>> {
    let mut ar = tar::Builder::new(Vec::new());
    ar.follow_symlinks(false);
    ar.sparse(false);
    for e in entries {
        ar.append_path_with_name(e.path_in(context), &e.rel)?;
    }
    if let Some((name, text)) = extra {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        ar.append_data(&mut header, name, text.as_bytes())?;
    }
    ar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::images::testing::sample_context;

    #[test]
    fn scan_leaves_out_git_and_ignored_files_and_the_tar_holds_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        sample_context(dir);
        fs::write(dir.join("bin/extra"), b"").unwrap();
        fs::create_dir_all(dir.join(".git")).unwrap();
        fs::write(dir.join(".git/HEAD"), b"ref").unwrap();
        fs::write(dir.join("junk"), b"x").unwrap();

        let shared = tempfile::tempdir().unwrap();
        fs::write(shared.path().join("probe.sh"), b"#!/bin/sh\n").unwrap();
        let scan =
            scan_context(dir, Some("Dockerfile"), &[shared.path().join("probe.sh")]).unwrap();
        let names: Vec<&str> = scan.entries.iter().map(|e| e.rel.as_str()).collect();
        assert_eq!(
            names,
            vec![
                ".dockerignore",
                "Dockerfile",
                "bin",
                "bin/app",
                "bin/extra",
                "probe.sh"
            ]
        );
        // The included file counts in the digest.
        fs::write(shared.path().join("probe.sh"), b"#!/bin/sh\nexit 1\n").unwrap();
        let again =
            scan_context(dir, Some("Dockerfile"), &[shared.path().join("probe.sh")]).unwrap();
        assert_ne!(scan.digest, again.digest);
        let tar = tar_context(dir, &scan.entries, None).unwrap();
        let mut ar = tar::Archive::new(&tar[..]);
        let in_tar: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string()
            })
            .collect();
        assert_eq!(in_tar, names);
    }
}
