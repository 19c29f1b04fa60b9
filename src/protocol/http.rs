//! Plain HTTP beside WebSocket on one port: a table of static responses, a
//! health endpoint, and which paths accept the upgrade. Enough to serve a
//! single-page app and its socket from one address.
//!
//! Sans-IO like the rest of the protocol core: [`Routes::decide`] says what
//! a request gets and the functions here format responses; the engine reads
//! files and writes bytes. Every plain response says `Connection: close`
//! (one request per connection, which is all a page and its socket need).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::handshake::http_error_response;
use super::handshake::server::Request;

/// Where a route's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Bytes held in memory, shared by every response.
    Bytes(Arc<[u8]>),
    /// A file read when it is requested (edits show without a restart; a
    /// missing file is a 404).
    File(PathBuf),
}

/// A static response: its content type and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The `Content-Type` header value, e.g. `text/html; charset=utf-8`.
    pub content_type: String,
    /// The body.
    pub body: Body,
}

/// What a server answers on its port besides WebSocket upgrades.
///
/// The default has no routes, no health endpoint, and accepts the upgrade
/// on every path: a WebSocket-only server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Routes {
    /// Exact paths (without the query) answered to `GET` and `HEAD`.
    pub routes: BTreeMap<String, Route>,
    /// A path answered with `200` and `{"status":"ok","connections":N}`.
    pub health_path: Option<String>,
    /// Paths that accept the WebSocket upgrade; `None` means every path
    /// that is not a route. An upgrade on another path gets 404.
    pub websocket_paths: Option<Vec<String>>,
}

/// What a request gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Go on with the WebSocket handshake.
    Upgrade,
    /// Answer with this route (`head_only` for `HEAD`: headers, no body).
    Serve {
        /// The route.
        route: &'a Route,
        /// The request was `HEAD`.
        head_only: bool,
    },
    /// Answer with the health document (`head_only` as for `Serve`).
    Health {
        /// The request was `HEAD`.
        head_only: bool,
    },
    /// Answer with this complete error response and close.
    Refuse(Vec<u8>),
}

impl Routes {
    /// Answer `GET path` (and `HEAD`) with `body` as `content_type`,
    /// replacing a route already at `path`.
    pub fn add(
        &mut self,
        path: impl Into<String>,
        content_type: impl Into<String>,
        body: impl Into<Vec<u8>>,
    ) {
        let route = Route {
            content_type: content_type.into(),
            body: Body::Bytes(body.into().into()),
        };
        self.routes.insert(path.into(), route);
    }

    /// Answer `GET path` with the contents of `file`, read at each request,
    /// its content type from its extension ([`content_type_for`]).
    pub fn add_file(&mut self, path: impl Into<String>, file: impl Into<PathBuf>) {
        let file = file.into();
        let route = Route {
            content_type: content_type_for(&file).to_owned(),
            body: Body::File(file),
        };
        self.routes.insert(path.into(), route);
    }

    /// Whether an upgrade is accepted on `path`.
    pub fn accepts_upgrade(&self, path: &str) -> bool {
        match &self.websocket_paths {
            Some(paths) => paths.iter().any(|p| p == path),
            None => !self.routes.contains_key(path),
        }
    }

    /// What `request` gets: an upgrade request on an accepted path goes on
    /// to the handshake (which checks the rest); on another path it is 404.
    /// A plain `GET` or `HEAD` gets its route or the health document; on a
    /// path that only accepts upgrades it gets 426 (with `Upgrade:
    /// websocket`), elsewhere 404. Other methods get 405.
    pub fn decide(&self, request: &Request) -> Decision<'_> {
        let path = request.path.as_str();
        if request.is_upgrade() {
            if self.accepts_upgrade(path) {
                return Decision::Upgrade;
            }
            return Decision::Refuse(http_error_response(
                404,
                "",
                "no WebSocket endpoint at this path",
            ));
        }
        let head_only = match request.method.as_str() {
            "GET" => false,
            "HEAD" => true,
            _ => {
                return Decision::Refuse(http_error_response(
                    405,
                    "Allow: GET, HEAD\r\n",
                    "method not allowed",
                ));
            }
        };
        if let Some(route) = self.routes.get(path) {
            return Decision::Serve { route, head_only };
        }
        if self.health_path.as_deref() == Some(path) {
            return Decision::Health { head_only };
        }
        if self.accepts_upgrade(path) {
            return Decision::Refuse(http_error_response(
                426,
                "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
                "this is a WebSocket endpoint: send an upgrade request",
            ));
        }
        Decision::Refuse(http_error_response(404, "", "nothing at this path"))
    }

    /// Whether any route is served from a file.
    pub fn has_files(&self) -> bool {
        self.routes
            .values()
            .any(|r| matches!(r.body, Body::File(_)))
    }

    /// Check that every path starts with `/`.
    pub fn validate(&self) -> Result<(), String> {
        let paths = self
            .routes
            .keys()
            .chain(self.health_path.iter())
            .chain(self.websocket_paths.iter().flatten());
        for p in paths {
            if !p.starts_with('/') || p.contains('?') {
                return Err(format!(
                    "route path {p:?} must start with / and have no query"
                ));
            }
        }
        Ok(())
    }
}

/// A complete `200 OK` response with `body` (only the headers if `head_only`).
pub fn ok_response(content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let mut out = ok_head(content_type, body.len() as u64);
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// The head of a `200 OK` response whose body of `len` bytes follows.
pub fn ok_head(content_type: &str, len: u64) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\r\n"
    )
    .into_bytes()
}

/// The health document: `{"status":"ok","connections":N}`.
pub fn health_body(connections: usize) -> String {
    format!("{{\"status\":\"ok\",\"connections\":{connections}}}")
}

/// A content type for a file, from its extension (`application/octet-stream`
/// for the ones not known here).
pub fn content_type_for(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::server::parse_request;

    fn request(raw: &str) -> Request {
        parse_request(raw.as_bytes(), 8192).unwrap().unwrap().0
    }

    fn plain(method: &str, path: &str) -> Request {
        request(&format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
    }

    fn upgrade(path: &str) -> Request {
        request(&format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        ))
    }

    fn status(d: &Decision<'_>) -> u16 {
        match d {
            Decision::Upgrade => 101,
            Decision::Serve { .. } | Decision::Health { .. } => 200,
            Decision::Refuse(bytes) => std::str::from_utf8(&bytes[9..12]).unwrap().parse().unwrap(),
        }
    }

    fn app() -> Routes {
        let mut routes = Routes {
            health_path: Some("/health".into()),
            websocket_paths: Some(vec!["/ws".into()]),
            ..Routes::default()
        };
        routes.add("/", "text/html", "<p>hi</p>");
        routes.add_file("/app.css", "static/app.css");
        assert_eq!(
            routes.routes["/app.css"].content_type,
            "text/css; charset=utf-8"
        );
        assert_eq!(
            routes.routes["/"].body,
            Body::Bytes(Arc::from(&b"<p>hi</p>"[..]))
        );
        routes
    }

    #[test]
    fn a_websocket_only_server_upgrades_everywhere_and_says_426_to_plain_gets() {
        let r = Routes::default();
        assert_eq!(status(&r.decide(&upgrade("/anything"))), 101);
        let d = r.decide(&plain("GET", "/anything"));
        assert_eq!(status(&d), 426);
        let Decision::Refuse(bytes) = d else {
            unreachable!()
        };
        assert!(
            String::from_utf8(bytes)
                .unwrap()
                .contains("Upgrade: websocket\r\n")
        );
    }

    #[test]
    fn routes_health_404_405_and_upgrade_paths() {
        let r = app();
        assert_eq!(r.validate(), Ok(()));
        assert!(matches!(
            r.decide(&plain("GET", "/")),
            Decision::Serve {
                head_only: false,
                ..
            }
        ));
        assert!(matches!(
            r.decide(&plain("HEAD", "/")),
            Decision::Serve {
                head_only: true,
                ..
            }
        ));
        // The query is not part of the path.
        assert_eq!(status(&r.decide(&plain("GET", "/?x=1"))), 200);
        assert_eq!(status(&r.decide(&plain("GET", "/health"))), 200);
        assert_eq!(status(&r.decide(&plain("GET", "/missing"))), 404);
        assert_eq!(status(&r.decide(&plain("POST", "/"))), 405);
        assert_eq!(status(&r.decide(&plain("GET", "/ws"))), 426);
        assert_eq!(status(&r.decide(&upgrade("/ws"))), 101);
        assert_eq!(status(&r.decide(&upgrade("/ws?room=a"))), 101);
        assert_eq!(status(&r.decide(&upgrade("/"))), 404);
        assert_eq!(status(&r.decide(&upgrade("/other"))), 404);
    }

    #[test]
    fn responses_and_validation() {
        let full = String::from_utf8(ok_response("text/plain", b"abc", false)).unwrap();
        assert!(full.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(full.contains("Content-Length: 3\r\n") && full.ends_with("\r\n\r\nabc"));
        let head = String::from_utf8(ok_response("text/plain", b"abc", true)).unwrap();
        assert!(head.contains("Content-Length: 3\r\n") && head.ends_with("\r\n\r\n"));
        assert_eq!(health_body(3), r#"{"status":"ok","connections":3}"#);
        assert_eq!(
            content_type_for(Path::new("a/b.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type_for(Path::new("x")), "application/octet-stream");
        let mut bad = app();
        bad.health_path = Some("health".into());
        assert!(bad.validate().is_err());
    }
}
