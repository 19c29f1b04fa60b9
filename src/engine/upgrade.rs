//! The application's say on who connects, before the `101`.
//!
//! Once the server has checked that a request is a valid upgrade (method,
//! version, key, origin, host), it asks the application, if it configured
//! a way: an [`UpgradeHook`] (a function run on the connection's own
//! thread) or, in poll mode, a [`ServerEvent::UpgradeRequest`] answered
//! from the loop's thread. The answer is a [`Verdict`]: accept, perhaps
//! with a subprotocol, extra response headers and data attached to the
//! connection; or refuse with any status, headers and body (401 with
//! `WWW-Authenticate`, 403, 429 with `Retry-After`, ...).
//!
//! Either way the decision is bounded by `Config::handshake_timeout`: a
//! hook still running at the deadline has its connection cut (the client
//! sees the socket close; the hook's late answer is discarded), and an
//! event not answered by then refuses with 503. Neither runs under an
//! engine lock, and a slow decision delays only its own connection.
//!
//! [`ServerEvent::UpgradeRequest`]: crate::ServerEvent::UpgradeRequest

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crossbeam_channel::Sender;

use super::conn::{ConnData, RequestInfo};

/// The application's answer to an upgrade request.
#[derive(Clone)]
#[non_exhaustive]
pub enum Verdict {
    /// Upgrade.
    Accept {
        /// The subprotocol to answer with: one the client offered. `None`
        /// keeps the server's own choice (from `Config::subprotocols`).
        subprotocol: Option<String>,
        /// Extra header lines for the `101` response.
        headers: Vec<(String, String)>,
        /// Attached to the connection, for [`Conn::data`](crate::Conn::data).
        data: Option<ConnData>,
    },
    /// Answer with this HTTP response instead, and close.
    Refuse {
        /// The status: 300-599.
        status: u16,
        /// Extra header lines (the server adds `Content-Length`,
        /// `Content-Type` unless given, and `Connection: close`).
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
}

impl fmt::Debug for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Accept {
                subprotocol,
                headers,
                data,
            } => f
                .debug_struct("Accept")
                .field("subprotocol", subprotocol)
                .field("headers", headers)
                .field("data", &data.is_some())
                .finish(),
            Verdict::Refuse {
                status,
                headers,
                body,
            } => f
                .debug_struct("Refuse")
                .field("status", status)
                .field("headers", headers)
                .field("body_len", &body.len())
                .finish(),
        }
    }
}

impl Verdict {
    /// Accept, with the server's own subprotocol choice, no extra headers
    /// and no data.
    pub fn accept() -> Verdict {
        Verdict::Accept {
            subprotocol: None,
            headers: Vec::new(),
            data: None,
        }
    }

    /// Refuse with `status` (300-599) and `body` (sent as
    /// `text/plain; charset=utf-8` unless a `Content-Type` header is added).
    pub fn refuse(status: u16, body: impl Into<Vec<u8>>) -> Verdict {
        Verdict::Refuse {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Add a response header (to the `101`, or to the refusal).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Verdict {
        match &mut self {
            Verdict::Accept { headers, .. } | Verdict::Refuse { headers, .. } => {
                headers.push((name.into(), value.into()));
            }
        }
        self
    }

    /// Accept with this subprotocol (one the client offered; see
    /// [`RequestInfo::offered_subprotocols`]). No effect on a refusal.
    #[must_use]
    pub fn with_subprotocol(mut self, name: impl Into<String>) -> Verdict {
        if let Verdict::Accept { subprotocol, .. } = &mut self {
            *subprotocol = Some(name.into());
        }
        self
    }

    /// Attach `data` to the connection (read it with
    /// [`Conn::data`](crate::Conn::data)). No effect on a refusal.
    #[must_use]
    pub fn with_data<T: Any + Send + Sync>(mut self, value: T) -> Verdict {
        if let Verdict::Accept { data, .. } = &mut self {
            *data = Some(Arc::new(value));
        }
        self
    }

    /// Whether the server can send this answer to `request`; if not, why
    /// (a subprotocol the client did not offer, a status outside 300-599,
    /// a header name that is not a token, control characters in a value,
    /// a header the server sets itself). The server checks every answer
    /// and refuses with 500 instead of sending one that fails; bindings
    /// check early to report the mistake to the code that made it.
    pub fn check_for(&self, request: &RequestInfo) -> Result<(), String> {
        let headers = match self {
            Verdict::Accept {
                subprotocol,
                headers,
                ..
            } => {
                if let Some(p) = subprotocol {
                    if !request.offered_subprotocols().any(|o| o == p) {
                        return Err(format!("subprotocol {p:?} was not offered"));
                    }
                }
                headers
            }
            Verdict::Refuse {
                status, headers, ..
            } => {
                if !(300..=599).contains(status) {
                    return Err(format!("refusal status {status} is not 300-599"));
                }
                headers
            }
        };
        for (name, value) in headers {
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                return Err(format!("header name {name:?} is not an HTTP token"));
            }
            if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
                return Err(format!("header {name} has control characters"));
            }
            let reserved = [
                "upgrade",
                "connection",
                "content-length",
                "transfer-encoding",
                "sec-websocket-accept",
                "sec-websocket-extensions",
                "sec-websocket-protocol",
            ];
            if reserved.iter().any(|r| name.eq_ignore_ascii_case(r)) {
                return Err(format!("header {name} is the server's to set"));
            }
        }
        Ok(())
    }
}

/// A function that decides each upgrade request
/// ([`Config::upgrade_hook`](crate::Config::upgrade_hook)). It runs on the
/// connection's own thread (never under an engine lock), once per valid
/// upgrade request, and sees the request as the connection will:
/// [`RequestInfo`] with path, query, headers, cookies, addresses, the
/// client certificate, and the server's provisional subprotocol choice.
/// A panic in it refuses the upgrade with 500.
#[derive(Clone)]
pub struct UpgradeHook(Arc<dyn Fn(&RequestInfo) -> Verdict + Send + Sync>);

impl UpgradeHook {
    /// Wrap `decide`.
    pub fn new(decide: impl Fn(&RequestInfo) -> Verdict + Send + Sync + 'static) -> UpgradeHook {
        UpgradeHook(Arc::new(decide))
    }

    pub(crate) fn decide(&self, request: &RequestInfo) -> Verdict {
        (self.0)(request)
    }
}

impl fmt::Debug for UpgradeHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UpgradeHook(..)")
    }
}

impl PartialEq for UpgradeHook {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for UpgradeHook {}

/// An upgrade request waiting for the application's answer (poll mode with
/// [`Config::upgrade_events`](crate::Config::upgrade_events)). Answer it
/// with [`answer`](Self::answer) from any thread, before the handshake
/// timeout; dropping it unanswered refuses the upgrade with 503.
pub struct PendingUpgrade {
    /// Boxed: events stay small (most are messages).
    request: Box<RequestInfo>,
    reply: Sender<Verdict>,
}

impl fmt::Debug for PendingUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingUpgrade")
            .field("path", &self.request.path)
            .field("peer_addr", &self.request.peer_addr)
            .finish_non_exhaustive()
    }
}

impl PendingUpgrade {
    pub(crate) fn new(request: RequestInfo, reply: Sender<Verdict>) -> PendingUpgrade {
        PendingUpgrade {
            request: Box::new(request),
            reply,
        }
    }

    /// The request: path, query, headers, addresses, client certificate.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    /// Send the answer. Too late (after the handshake timeout, or the
    /// client left) it is dropped: the connection is gone already.
    pub fn answer(self, verdict: Verdict) {
        let _ = self.reply.try_send(verdict);
    }
}
