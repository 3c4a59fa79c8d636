//! The build hash: the content hash of everything an image's build reads. An image in the engine
//! whose label carries the hash of its current inputs is up to date and not rebuilt, so the hash must
//! stay byte-identical from one version of crossgrade to the next.

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

/// The build hash of one image: its Dockerfile (name and text), its context's digest, its build
/// arguments, and the hashes of the matrix images it is built on. Hex.
pub(super) fn image_hash(
    dockerfile_name: &str,
    dockerfile_text: &str,
    context_digest: &[u8; 32],
    args: &IndexMap<String, String>,
    base_hashes: &[&str],
) -> String {
    let mut h = Sha256::new();
    h.update(b"crossgrade image v1\0");
    feed(&mut h, dockerfile_name.as_bytes());
    feed(&mut h, dockerfile_text.as_bytes());
    h.update(context_digest);
    h.update((args.len() as u64).to_le_bytes());
    for (k, v) in args {
        feed(&mut h, k.as_bytes());
        feed(&mut h, v.as_bytes());
    }
    h.update((base_hashes.len() as u64).to_le_bytes());
    for b in base_hashes {
        feed(&mut h, b.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// One length-prefixed field, so that no two sequences of fields hash alike.
pub(super) fn feed(h: &mut Sha256, field: &[u8]) {
    h.update((field.len() as u64).to_le_bytes());
    h.update(field);
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::runtime::images::context::scan_context;
    use crate::runtime::images::testing::{args, sample_context};

    fn hash_of(dir: &Path, a: &IndexMap<String, String>) -> String {
        let df = fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let scan = scan_context(dir, Some("Dockerfile"), &[]).unwrap();
        image_hash("Dockerfile", &df, &scan.digest, a, &[])
    }

    #[test]
    fn hash_follows_context_and_args() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        sample_context(dir);
        let a = args(&[("R", "1.0")]);

        let h0 = hash_of(dir, &a);
        assert_eq!(h0.len(), 64);
        assert_eq!(hash_of(dir, &a), h0, "stable");

        // Ignored: .git and what .dockerignore leaves out.
        fs::create_dir_all(dir.join(".git")).unwrap();
        fs::write(dir.join(".git/HEAD"), b"ref").unwrap();
        fs::write(dir.join("junk"), b"x").unwrap();
        assert_eq!(hash_of(dir, &a), h0);

        assert_ne!(hash_of(dir, &args(&[("R", "1.1")])), h0, "build arg");
        fs::write(dir.join("bin/app"), b"v2").unwrap();
        let h1 = hash_of(dir, &a);
        assert_ne!(h1, h0, "file contents");
        fs::write(dir.join("bin/extra"), b"").unwrap();
        let h2 = hash_of(dir, &a);
        assert_ne!(h2, h1, "new file");
        fs::write(dir.join("Dockerfile"), "FROM scratch\nARG R\nCOPY . /x/\n").unwrap();
        assert_ne!(hash_of(dir, &a), h2, "Dockerfile");
    }

    /// Images in the engine carry hashes made by earlier builds of crossgrade: the same inputs must
    /// hash the same forever, or every image is rebuilt. Pinned on a context with a directory, an
    /// executable, a symlink and a Dockerfile, with build arguments and a base image's hash.
    #[test]
    fn hash_is_pinned() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let df = "FROM base:1\nARG R\nCOPY . /\n";
        fs::write(dir.join("Dockerfile"), df).unwrap();
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::write(dir.join("bin/app"), b"#!/bin/sh\necho app\n").unwrap();
        symlink("bin/app", dir.join("app")).unwrap();
        for (file, mode) in [("Dockerfile", 0o644), ("bin/app", 0o755)] {
            fs::set_permissions(dir.join(file), fs::Permissions::from_mode(mode)).unwrap();
        }
        let scan = scan_context(dir, Some("Dockerfile"), &[]).unwrap();
        let hash = image_hash(
            "Dockerfile",
            df,
            &scan.digest,
            &args(&[("R", "1.0"), ("SUITE", "bookworm")]),
            &["0123abcd"],
        );
        assert_eq!(
            hash,
            "b8da6da192bcd2687c4a0a5cc66159b64ecb049ba0814a49386ff5e6d2fa0e9e"
        );
    }
}
