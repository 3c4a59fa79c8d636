//! Commands run on the host with their output streamed line by line: the matrix's `prepare` command,
//! `debootstrap`, `apt-get`. Errors carry the last lines of that output.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::build::BuildEvent;
use super::error::BuildError;
use crate::model::Matrix;

/// How many trailing lines of output errors carry.
const TAIL_LINES: usize = 20;

/// Runs the matrix's `prepare` command in the matrix's directory.
pub(super) async fn run_prepare(
    m: &Matrix,
    argv: &[String],
    progress: &mut (dyn FnMut(BuildEvent) + Send),
) -> Result<(), BuildError> {
    let command = argv.join(" ");
    progress(BuildEvent::Preparing {
        command: command.clone(),
    });
    let started = Instant::now();
    // A relative program path with a slash is the matrix's, not the harness's working directory's.
    let program = Path::new(&argv[0]);
    let program = if program.is_relative() && argv[0].contains('/') {
        m.root.join(program)
    } else {
        program.to_path_buf()
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&argv[1..]).current_dir(&m.root);
    let (status, tail) = run_streaming(cmd, |line| progress(BuildEvent::PrepareLog { line }))
        .await
        .map_err(|source| BuildError::PrepareSpawn {
            command: command.clone(),
            source,
        })?;
    if !status.success() {
        return Err(BuildError::Prepare {
            command,
            code: status.code(),
            output_tail: tail.joined(),
        });
    }
    progress(BuildEvent::Prepared {
        secs: started.elapsed().as_secs_f64(),
    });
    Ok(())
}

/// Runs a command with stdin closed, passing each output line (stdout and stderr, as they come) to
/// `on_line`; returns its exit status and last lines.
pub(super) async fn run_streaming(
    mut cmd: tokio::process::Command,
    mut on_line: impl FnMut(String),
) -> io::Result<(ExitStatus, Tail)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump_lines(out, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump_lines(err, tx.clone()));
    }
    drop(tx);
    let mut tail = Tail::default();
    while let Some(line) = rx.recv().await {
        tail.push(line.clone());
        on_line(line);
    }
    let status = child.wait().await?;
    Ok((status, tail))
}

async fn pump_lines(r: impl AsyncRead + Unpin, tx: tokio::sync::mpsc::UnboundedSender<String>) {
    let mut r = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                if tx.send(line).is_err() {
                    break;
                }
            }
        }
    }
}

/// The last lines of some output, for the error when the command fails.
#[derive(Debug, Default)]
pub(super) struct Tail(VecDeque<String>);

impl Tail {
    pub(super) fn push(&mut self, line: String) {
        if self.0.len() == TAIL_LINES {
            self.0.pop_front();
        }
        self.0.push_back(line);
    }

    /// The lines, one a line.
    pub(super) fn joined(&self) -> String {
        self.0
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The executable `name` on `PATH` (or in the sbin directories, which a non-root `PATH` may lack).
pub(super) fn find_tool(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            fs::metadata(p).is_ok_and(|md| md.is_file() && md.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_found_on_path() {
        assert!(find_tool("sh").is_some());
        assert!(find_tool("crossgrade-no-such-tool").is_none());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let mut tail = Tail::default();
        for i in 0..TAIL_LINES + 5 {
            tail.push(format!("line {i}"));
        }
        let joined = tail.joined();
        assert_eq!(joined.lines().count(), TAIL_LINES);
        assert!(joined.starts_with("line 5\n"));
        assert!(joined.ends_with(&format!("line {}", TAIL_LINES + 4)));
    }

    #[tokio::test]
    async fn a_prepare_command_that_cannot_start_keeps_the_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let m = crate::runtime::images::testing::matrix(tmp.path(), vec![], None);
        let argv = ["./does-not-exist.sh".to_string()];
        let err = run_prepare(&m, &argv, &mut |_| {}).await.unwrap_err();
        assert!(matches!(&err, BuildError::PrepareSpawn { command, .. } if command == &argv[0]));
        let source = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<io::Error>())
            .expect("the spawn error is the source");
        assert_eq!(source.kind(), io::ErrorKind::NotFound);
    }
}
