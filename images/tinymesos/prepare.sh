#!/usr/bin/env bash
# Builds every tinymesos role as a fully static binary (the images are
# `FROM scratch`: no libc, no shell), once per release, into
# images/tinymesos/bin/<release>/tinymesos-<role>. The release is fixed at
# compile time (env TINYMESOS_RELEASE, read by build.rs).
#
# A release whose binaries are newer than every source file is skipped.
#
#   images/tinymesos/prepare.sh              # all releases
#   images/tinymesos/prepare.sh 0.23 0.24    # some
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

releases=("$@")
if [ ${#releases[@]} -eq 0 ]; then
    releases=(0.22 0.23 0.24 0.25 0.28 1.0)
fi
roles=(master agent executor scheduler)
target=x86_64-unknown-linux-gnu
out_dir="${CARGO_TARGET_DIR:-target}/$target/release"

crate=images/tinymesos
for release in "${releases[@]}"; do
    # Up to date: every binary exists and is newer than every source file.
    fresh=1
    for role in "${roles[@]}"; do
        bin="$crate/bin/$release/tinymesos-$role"
        if [ ! -x "$bin" ] || [ -n "$(find "$crate/src" "$crate/Cargo.toml" "$crate/build.rs" Cargo.lock -newer "$bin" -print -quit)" ]; then
            fresh=0
        fi
    done
    if [ $fresh = 1 ]; then
        echo "== tinymesos $release: up to date"
        continue
    fi
    echo "== tinymesos $release"
    TINYMESOS_RELEASE="$release" RUSTFLAGS='-C target-feature=+crt-static' \
        cargo build --release -p crossgrade-tinymesos --target "$target" --bins
    for role in "${roles[@]}"; do
        install -D -m 0755 "$out_dir/tinymesos-$role" "images/tinymesos/bin/$release/tinymesos-$role"
        got=$("images/tinymesos/bin/$release/tinymesos-$role" version)
        if [ "$got" != "$release.0" ]; then
            echo "error: bin/$release/tinymesos-$role says it is $got" >&2
            exit 1
        fi
    done
done
