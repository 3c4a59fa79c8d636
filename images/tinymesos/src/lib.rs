//! tinymesos: a small Mesos-like reference cluster for cross-version
//! upgrade tests. Masters elect a leader through ZooKeeper, agents run
//! tasks through an executor in its own container, and a test scheduler
//! keeps long-running tasks up and launches short ones. Components talk
//! libprocess-style: HTTP `POST /<process>/<MessageName>` with a JSON body
//! and a `Libprocess-From` header.
//!
//! The release a binary is and what it speaks: [`release`].

pub mod agent;
pub mod election;
pub mod executor;
pub mod executor_api;
pub mod flags;
pub mod http;
pub mod jute;
pub mod master;
pub mod process;
pub mod recordio;
pub mod release;
pub mod scheduler;
pub mod scheduler_v1;
pub mod v1;
pub mod zk;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Prints one timestamped line to stdout and flushes it at once, so
/// `docker logs` shows it immediately; write errors are ignored.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!($($arg)*);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{} {}", $crate::timestamp(), line);
        let _ = out.flush();
    }};
}

/// `HH:MM:SS.mmm` (UTC) for log lines.
pub fn timestamp() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let s = d.as_secs();
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        d.subsec_millis()
    )
}

/// Seconds since the epoch, as a float (Mesos timestamps).
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// 16 random bytes from the kernel (falls back to time-derived bytes).
pub fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    // SAFETY: getrandom writes at most `len` bytes into the buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b = (t ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
    }
    b
}

/// A random (version 4) UUID in its textual form.
pub fn uuid() -> String {
    let mut b = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

static SHUTDOWN_HOOK: OnceLock<Box<dyn Fn() + Send + Sync>> = OnceLock::new();

/// Makes SIGTERM and SIGINT run `hook` (bounded by the caller) and then
/// exit 0. PID 1 in a container ignores signals left at their default, so
/// without handlers `docker stop` would wait out its grace period. The
/// handler only writes a byte to a pipe; a thread runs the hook.
pub fn install_shutdown(hook: impl Fn() + Send + Sync + 'static) {
    let _ = SHUTDOWN_HOOK.set(Box::new(hook));
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe fills the two-element array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        eprintln!("warning: cannot create signal pipe");
        return;
    }
    PIPE_WRITE.store(fds[1], std::sync::atomic::Ordering::SeqCst);
    let read_fd = fds[0];
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut b = [0u8; 1];
            // SAFETY: reading one byte into a one-byte buffer.
            let _ = unsafe { libc::read(read_fd, b.as_mut_ptr().cast(), 1) };
            say!("Received signal {}; shutting down", b[0]);
            if let Some(h) = SHUTDOWN_HOOK.get() {
                h();
            }
            // SAFETY: _exit ends the process without running destructors.
            unsafe { libc::_exit(0) }
        })
        .expect("spawn signal thread");
    extern "C" fn on_signal(signal: libc::c_int) {
        let fd = PIPE_WRITE.load(std::sync::atomic::Ordering::SeqCst);
        let b = [signal as u8];
        // SAFETY: write is async-signal-safe.
        unsafe {
            libc::write(fd, b.as_ptr().cast(), 1);
        }
    }
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction is valid; the handler has the plain
        // `extern "C" fn(c_int)` signature sa_sigaction expects.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

static PIPE_WRITE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Parses `10secs`, `500ms`, `2s`, `1mins`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let mult = match unit {
        "" | "s" | "secs" | "sec" => 1.0,
        "ms" => 0.001,
        "m" | "mins" | "min" => 60.0,
        "h" | "hrs" => 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?}")),
    };
    if !(0.0..=1e9).contains(&(n * mult)) {
        return Err(format!("duration out of range: {s:?}"));
    }
    Ok(Duration::from_secs_f64(n * mult))
}

/// The command line every binary shares: `get PATH [--addr HOST:PORT]` (default the role's own port
/// on 127.0.0.1), `version`, `help`; anything else is the role's flags, which `run` parses and runs.
/// Bad flags print the error and `usage` and exit 64.
pub fn cli_main(
    args: &[String],
    usage: &str,
    port: u16,
    run: impl FnOnce(&[String]) -> Result<i32, String>,
) -> i32 {
    match args.first().map(String::as_str) {
        Some("get") => {
            let Some(path) = args.get(1) else {
                eprintln!("{usage}");
                return 64;
            };
            let addr = match args.get(2..4) {
                Some([flag, a]) if flag == "--addr" => a.clone(),
                _ => format!("127.0.0.1:{port}"),
            };
            get_command(&addr, path)
        }
        Some("version") => {
            println!("{}", release::Caps::built().version());
            0
        }
        Some("-h" | "--help" | "help") => {
            println!("{usage}");
            0
        }
        _ => run(args).unwrap_or_else(|e| {
            eprintln!("error: {e}\n{usage}");
            64
        }),
    }
}

/// The `get` subcommand every binary has (for exec actions in `FROM
/// scratch` images): GETs a path and prints the body. Exit 0 on 2xx, 1 on
/// another status, 2 when unreachable.
pub fn get_command(addr: &str, path: &str) -> i32 {
    match http::request(addr, "GET", path, &[], None, Duration::from_secs(3)) {
        Ok(r) => {
            println!("{}", r.body);
            if (200..300).contains(&r.status) {
                0
            } else {
                eprintln!("error: HTTP {} from {addr} GET {path}", r.status);
                1
            }
        }
        Err(e) => {
            eprintln!("error: cannot reach {addr}: {e}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10secs").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2mins").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }

    #[test]
    fn uuids_look_right() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, uuid());
    }
}
