//! Mesos-style command-line flags: `--name value` or `--name=value`;
//! dashes and underscores in names are the same (`--work-dir` is
//! `--work_dir`). Every flag given must be used: [`Flags::finish`] reports
//! unknown ones.

use std::collections::BTreeMap;
use std::time::Duration;

pub struct Flags {
    map: BTreeMap<String, String>,
}

impl Flags {
    pub fn parse(args: &[String]) -> Result<Flags, String> {
        let mut map = BTreeMap::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let Some(rest) = arg.strip_prefix("--") else {
                return Err(format!(
                    "unexpected argument {arg:?} (flags are --name value)"
                ));
            };
            let (name, value) = match rest.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (
                    rest.to_string(),
                    it.next()
                        .ok_or_else(|| format!("--{rest} needs a value"))?
                        .clone(),
                ),
            };
            map.insert(name.replace('-', "_"), value);
        }
        Ok(Flags { map })
    }

    pub fn opt(&mut self, name: &str) -> Option<String> {
        self.map.remove(name)
    }

    pub fn string(&mut self, name: &str, default: &str) -> String {
        self.opt(name).unwrap_or_else(|| default.to_string())
    }

    pub fn required(&mut self, name: &str) -> Result<String, String> {
        self.opt(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("--{name} is required"))
    }

    pub fn num<T: std::str::FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        match self.opt(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("invalid value for --{name}: {v:?}")),
        }
    }

    pub fn duration(&mut self, name: &str, default: Duration) -> Result<Duration, String> {
        match self.opt(name) {
            None => Ok(default),
            Some(v) => crate::parse_duration(&v).map_err(|e| format!("--{name}: {e}")),
        }
    }

    pub fn finish(self) -> Result<(), String> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(format!("unknown flag --{k}")),
        }
    }
}

/// Splits `HOST:PORT`, checking both parts.
pub fn host_port(s: &str) -> Result<(String, u16), String> {
    let (h, p) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT, got {s:?}"))?;
    let p: u16 = p.parse().map_err(|_| format!("bad port in {s:?}"))?;
    if h.is_empty() {
        return Err(format!("empty host in {s:?}"));
    }
    Ok((h.to_string(), p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_both_forms() {
        let mut f =
            Flags::parse(&args(&["--zk", "zk://z/m", "--work-dir=/x", "--port=1"])).unwrap();
        assert_eq!(f.required("zk").unwrap(), "zk://z/m");
        assert_eq!(f.string("work_dir", "/d"), "/x");
        assert_eq!(f.num("port", 5u16).unwrap(), 1);
        assert_eq!(f.num("other", 5u16).unwrap(), 5);
        assert!(f.finish().is_ok());
        let f = Flags::parse(&args(&["--bogus", "1"])).unwrap();
        assert_eq!(f.finish().unwrap_err(), "unknown flag --bogus");
        assert!(Flags::parse(&args(&["--zk"])).is_err());
        assert!(Flags::parse(&args(&["zk"])).is_err());
        assert_eq!(host_port("agent-0:5051").unwrap(), ("agent-0".into(), 5051));
        assert!(host_port("agent-0").is_err());
    }
}
