//! How a client reaches its server: directly, or through an HTTP or SOCKS5
//! proxy ([`Proxy`]), and what can go wrong on the way ([`ProxyError`]).
//!
//! The proxy protocols themselves are in
//! [`protocol::proxy`](crate::protocol::proxy) (no I/O); the engine opens
//! the tunnel, and TLS to the server (for `wss://`) runs inside it, with the
//! server's own name verified.

use std::fmt;

use crate::protocol::proxy::ProxyUrl;

/// Which proxy a client connection goes through ([`Config::proxy`](crate::Config::proxy)).
///
/// `Debug` masks the password of a proxy URL, so a logged `Config` does
/// not leak it.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Proxy {
    /// The proxy the environment names, as python `websockets` and curl
    /// read it: `wss_proxy` (`ws_proxy` for `ws://`), then `https_proxy`
    /// (`http_proxy`), then `all_proxy`, lowercase before uppercase
    /// (uppercase `HTTP_PROXY` is ignored, as curl does); hosts listed in
    /// `no_proxy` are reached directly (see
    /// [`bypasses_proxy`](crate::protocol::proxy::bypasses_proxy)). No
    /// variable set: a direct connection. Read at each `connect`. The
    /// default.
    #[default]
    FromEnvironment,
    /// Always connect directly, whatever the environment says.
    Direct,
    /// Always through this proxy (the environment and `no_proxy` are not
    /// read): `http://[user:password@]host[:port]` (HTTP `CONNECT`, Basic
    /// credentials), `socks5://` (the client resolves the server's name)
    /// or `socks5h://` (the proxy resolves it). Checked by
    /// [`Config::validate`](crate::Config::validate).
    Url(String),
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proxy::FromEnvironment => f.write_str("FromEnvironment"),
            Proxy::Direct => f.write_str("Direct"),
            Proxy::Url(url) => match ProxyUrl::parse(url) {
                Ok(parsed) => write!(f, "Url({parsed})"),
                Err(_) => f.write_str("Url(<not a usable proxy URL>)"),
            },
        }
    }
}

impl Proxy {
    /// The proxy for `url`'s host and port, parsed: `Ok(None)` for a
    /// direct connection.
    pub(crate) fn resolve(
        &self,
        secure: bool,
        host: &str,
        port: u16,
    ) -> Result<Option<ProxyUrl>, ProxyError> {
        let url = match self {
            Proxy::Direct => return Ok(None),
            Proxy::Url(url) => url.clone(),
            Proxy::FromEnvironment => {
                let var = |name: &str| std::env::var(name).ok();
                match crate::protocol::proxy::proxy_from_env(secure, host, port, var) {
                    Some(url) => url,
                    None => return Ok(None),
                }
            }
        };
        ProxyUrl::parse(&url).map(Some).map_err(|why| ProxyError {
            kind: ProxyErrorKind::BadUrl,
            // The URL may hold a password: not repeated.
            proxy: String::new(),
            detail: why,
        })
    }
}

/// What went wrong with a proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyErrorKind {
    /// The proxy URL (given, or from the environment) is not usable.
    BadUrl,
    /// The HTTP proxy answered `CONNECT` with this status instead of 2xx:
    /// 407 (credentials missing or wrong; tinyproxy answers 401), 403
    /// (not allowed), 502 or 504 (it could not reach the server), ...
    Refused(u16),
    /// The SOCKS5 proxy refused the credentials, or wants credentials
    /// none were given for.
    AuthFailed,
    /// The SOCKS5 proxy could not open the tunnel; its reply code (RFC
    /// 1928: 1 general failure, 2 not allowed by its rules, 3 network
    /// unreachable, 4 host unreachable, 5 connection refused, 6 TTL
    /// expired, 7 and 8 unsupported).
    SocksReply(u8),
    /// The proxy broke its protocol (or is not a proxy of that kind).
    Protocol,
}

/// A proxy refused the tunnel or misbehaved ([`Error::Proxy`](crate::Error::Proxy)).
/// A proxy that cannot be reached at all is an [`Error::Io`](crate::Error::Io)
/// naming its address, or [`Error::Timeout`](crate::Error::Timeout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyError {
    /// What went wrong.
    pub kind: ProxyErrorKind,
    /// The proxy's URL, its password masked (empty for a URL that did not
    /// parse).
    pub proxy: String,
    /// A description for people.
    pub detail: String,
}

impl ProxyError {
    /// The HTTP proxy's status, when it refused with one.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            ProxyErrorKind::Refused(status) => Some(status),
            _ => None,
        }
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.proxy.is_empty() {
            write!(f, "{}", self.detail)
        } else {
            write!(f, "{} (proxy {})", self.detail, self.proxy)
        }
    }
}

impl std::error::Error for ProxyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let proxy = Proxy::Url("http://alice:hunter2@proxy:3128".into());
        let shown = format!("{:?}", crate::Config::default().with_proxy(proxy));
        assert!(
            shown.contains("alice:***@proxy:3128") && !shown.contains("hunter2"),
            "{shown}"
        );
        let bad = format!("{:?}", Proxy::Url("https://alice:hunter2@proxy".into()));
        assert!(!bad.contains("hunter2"), "{bad}");
    }
}
