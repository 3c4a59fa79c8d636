//! The request rules the master's v1 HTTP endpoints share
//! (`/api/v1/scheduler`, the operator `/api/v1`, the maintenance
//! endpoints), worded as Mesos's `master/http.cpp` words them:
//!
//! * a master that does not lead answers `503 Not the leading master`
//!   (0.24–0.26, [`NonLeader::Unavailable`]) or `307` with `Location:
//!   //<leader hostname>:<port><path>` (0.27+, [`NonLeader::Redirect`]; `503
//!   No leader elected` while it knows no leader);
//! * `POST` only (`405`, with `Allow: POST`);
//! * `Content-Type` must be present (`400`) and be `application/json`:
//!   tinymesos speaks JSON only, so `application/x-protobuf` (which Mesos
//!   also takes) and anything else are `415`;
//! * an `Accept` header that excludes `application/json` is `406`.

use crate::http::Request;
use crate::process::Reply;
use crate::release::{Caps, NonLeader};
use serde_json::Value;

pub const APPLICATION_JSON: &str = "application/json";
pub const APPLICATION_PROTOBUF: &str = "application/x-protobuf";

/// The answer of a master that does not lead. `leader` is the leading
/// master's hostname and port, when known.
pub fn non_leader(caps: &Caps, leader: Option<(&str, u32)>, path: &str) -> Reply {
    match caps.non_leader {
        NonLeader::Unavailable => Reply::text(503, "Not the leading master"),
        NonLeader::Redirect => match leader {
            Some((host, port)) => {
                Reply::text(307, "").with_header("Location", &format!("//{host}:{port}{path}"))
            }
            None => Reply::text(503, "No leader elected"),
        },
    }
}

/// `405` unless the method is one of `allowed`.
pub fn method(req: &Request, allowed: &[&str]) -> Result<(), Reply> {
    if allowed.contains(&req.method.as_str()) {
        return Ok(());
    }
    let list = allowed
        .iter()
        .map(|m| format!("'{m}'"))
        .collect::<Vec<_>>()
        .join(" or ");
    Err(Reply::text(
        405,
        &format!("Expecting a {list} request, received '{}'", req.method),
    )
    .with_header("Allow", &allowed.join(", ")))
}

/// The media type of a `Content-Type` value, lower-cased, without
/// parameters (`Application/JSON; charset=utf-8` → `application/json`).
pub fn media_type(v: &str) -> String {
    v.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Checks `Content-Type` and parses the body as JSON.
pub fn json_body(req: &Request) -> Result<Value, Reply> {
    let Some(ct) = req.header("content-type") else {
        return Err(Reply::text(400, "Expecting 'Content-Type' to be present"));
    };
    if media_type(ct) != APPLICATION_JSON {
        return Err(Reply::text(
            415,
            &format!(
                "Expecting 'Content-Type' of {APPLICATION_JSON}: tinymesos speaks JSON only \
                 (Mesos also takes {APPLICATION_PROTOBUF}), got '{ct}'"
            ),
        ));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| Reply::text(400, &format!("Failed to parse body into JSON: {e}")))
}

/// Whether an `Accept` header value allows `media` (`type/subtype`): no
/// header (or an empty one) accepts everything; `*/*`, `type/*` and the
/// type itself match unless their `q` is 0.
pub fn accepts(header: Option<&str>, media: &str) -> bool {
    let Some(h) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return true;
    };
    let media = media.to_ascii_lowercase();
    let (mtype, _) = media.split_once('/').unwrap_or((media.as_str(), ""));
    h.split(',').any(|range| {
        let mut parts = range.split(';');
        let r = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, v)| v.trim().parse::<f64>().ok())
            .unwrap_or(1.0);
        let matches = r == "*/*" || r == media || r == format!("{mtype}/*");
        matches && q > 0.0
    })
}

/// `406` unless the request accepts JSON.
pub fn accept_json(req: &Request) -> Result<(), Reply> {
    if accepts(req.header("accept"), APPLICATION_JSON) {
        return Ok(());
    }
    Err(Reply::text(
        406,
        &format!(
            "Expecting 'Accept' to allow '{APPLICATION_JSON}' (tinymesos speaks JSON only; \
             Mesos also offers '{APPLICATION_PROTOBUF}')"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, headers: &[(&str, &str)], body: &str) -> Request {
        Request {
            method: method.into(),
            path: "/api/v1/scheduler".into(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn non_leaders_answer_per_release() {
        let c25 = Caps::of("0.25").unwrap();
        let c28 = Caps::of("0.28").unwrap();
        let r = non_leader(&c25, Some(("master-1", 5050)), "/api/v1/scheduler");
        assert_eq!(r.status, 503);
        assert_eq!(r.body, b"Not the leading master");
        let r = non_leader(&c28, Some(("master-1", 5050)), "/api/v1/scheduler");
        assert_eq!(r.status, 307);
        assert_eq!(
            header(&r, "location"),
            Some("//master-1:5050/api/v1/scheduler")
        );
        let r = non_leader(&Caps::of("1.0").unwrap(), None, "/api/v1");
        assert_eq!(
            (r.status, r.body.as_slice()),
            (503, &b"No leader elected"[..])
        );
    }

    #[test]
    fn methods_and_content_types() {
        let r = method(&req("GET", &[], ""), &["POST"]).unwrap_err();
        assert_eq!(r.status, 405);
        assert_eq!(header(&r, "allow"), Some("POST"));
        assert!(method(&req("POST", &[], ""), &["POST"]).is_ok());
        assert_eq!(json_body(&req("POST", &[], "{}")).unwrap_err().status, 400);
        let r = json_body(&req(
            "POST",
            &[("Content-Type", "application/x-protobuf")],
            "",
        ))
        .unwrap_err();
        assert_eq!(r.status, 415);
        assert!(String::from_utf8_lossy(&r.body).contains("JSON only"));
        let r = json_body(&req("POST", &[("Content-Type", "application/json")], "{x")).unwrap_err();
        assert_eq!(r.status, 400);
        assert!(String::from_utf8_lossy(&r.body).starts_with("Failed to parse body into JSON"));
        let v = json_body(&req(
            "POST",
            &[("Content-Type", "Application/JSON; charset=utf-8")],
            r#"{"a":1}"#,
        ))
        .ok()
        .expect("JSON with parameters in its media type");
        assert_eq!(v["a"], 1);
    }

    #[test]
    fn accept_headers() {
        for ok in [
            None,
            Some(""),
            Some("application/json"),
            Some("*/*"),
            Some("application/*"),
            Some("text/plain, application/json;q=0.5"),
            Some("Application/JSON"),
        ] {
            assert!(accepts(ok, APPLICATION_JSON), "{ok:?}");
        }
        for bad in [
            Some("application/x-protobuf"),
            Some("text/plain"),
            Some("application/json;q=0"),
            Some("text/*"),
        ] {
            assert!(!accepts(bad, APPLICATION_JSON), "{bad:?}");
        }
        let r = accept_json(&req("POST", &[("Accept", "application/x-protobuf")], "")).unwrap_err();
        assert_eq!(r.status, 406);
    }
}
