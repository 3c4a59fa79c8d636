//! Files that are either wholly written or not at all: a temporary file in the same folder, synced,
//! then renamed over the target. A run killed at any moment leaves the previous file or the new one,
//! never half of one (a stray `.tmp-*` file at worst). Logs are appended the same way: a section whole
//! or not at all ([`append_whole`]).

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically, creating its folder if needed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Appends `parts` to the file at `path` (created if missing), all of them or none: when a write
/// fails (no space left, say) a regular file is cut back to its length before (or removed, if this
/// call created it), so it never ends in half a section.
pub(crate) fn append_whole(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let existed = path.symlink_metadata().is_ok();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let meta = f.metadata()?;
    let written = parts
        .iter()
        .try_for_each(|p| f.write_all(p))
        .and_then(|()| f.flush());
    if written.is_err() && meta.is_file() {
        if existed {
            let _ = f.set_len(meta.len());
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/results.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("results.json")]);
    }

    /// A reader racing a writer only ever sees a complete file.
    #[test]
    fn readers_never_see_half_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        write_atomic(&p, &serde_json::to_vec(&vec![0u32; 10_000]).unwrap()).unwrap();
        let writer = {
            let p = p.clone();
            std::thread::spawn(move || {
                for i in 0..200u32 {
                    let v = vec![i; 10_000 + i as usize];
                    write_atomic(&p, &serde_json::to_vec(&v).unwrap()).unwrap();
                }
            })
        };
        let mut reads = 0;
        while !writer.is_finished() {
            let bytes = std::fs::read(&p).unwrap();
            serde_json::from_slice::<Vec<u32>>(&bytes).expect("a whole JSON document");
            reads += 1;
        }
        writer.join().unwrap();
        assert!(reads > 0);
    }

    #[test]
    fn append_whole_appends_sections() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node-0.log");
        append_whole(&p, &[b"== 0 ==\n", b"a\n"]).unwrap();
        append_whole(&p, &[b"== 1 ==\n", b"b\n"]).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"== 0 ==\na\n== 1 ==\nb\n");
    }

    /// A write the device refuses is an error with its cause, not silence (the full-disk test in
    /// tests/engine_failure.rs shows the file cut back to whole sections on a real full disk).
    #[test]
    fn append_whole_says_why_a_write_failed() {
        // Through a link of its own, so that nothing here can ever touch the device itself.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node-0.log");
        std::os::unix::fs::symlink("/dev/full", &p).unwrap();
        let e = append_whole(&p, &[b"x"]).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
        assert!(p.symlink_metadata().is_ok(), "what was there stays");
    }
}
