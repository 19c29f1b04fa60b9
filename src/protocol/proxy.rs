//! Proxies, without I/O: which proxy a connection goes through (an explicit
//! URL, or the environment's `*_proxy` variables honouring `no_proxy`), and
//! the bytes of the two tunnels a client can ask for: HTTP `CONNECT`
//! (RFC 9110 section 9.3.6, with Basic credentials) and SOCKS5 (RFC 1928,
//! with RFC 1929 username/password authentication).
//!
//! The engine does the reading and writing (`engine/tunnel.rs`); everything
//! here is a pure function of its arguments, so the parsers can be fuzzed.

use core::fmt;
use core::net::IpAddr;

use base64::Engine;

use super::handshake::client::split_authority;

/// The tunnel a proxy offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyScheme {
    /// `http://`: an HTTP proxy asked for a tunnel with `CONNECT`.
    Http,
    /// `socks5://`: a SOCKS5 proxy, given the server's address (the client
    /// resolves the name).
    Socks5,
    /// `socks5h://`: a SOCKS5 proxy given the server's name (the proxy
    /// resolves it).
    Socks5h,
}

/// A parsed proxy URL: `http://`, `socks5://` or `socks5h://`, optional
/// `user:password@` (percent-encoded), host, optional port (80 for HTTP,
/// 1080 for SOCKS). A URL without a scheme is an HTTP proxy, as curl reads
/// it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// The tunnel this proxy offers.
    pub scheme: ProxyScheme,
    /// The proxy's host: a name or an IP address (IPv6 without brackets).
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    /// User name and password, percent-decoded.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for ProxyUrl {
    /// As [`Display`](fmt::Display): the password never appears.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ProxyUrl {
    /// The URL with the password masked, for errors and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            ProxyScheme::Http => "http",
            ProxyScheme::Socks5 => "socks5",
            ProxyScheme::Socks5h => "socks5h",
        };
        write!(f, "{scheme}://")?;
        if let Some((user, _)) = &self.credentials {
            write!(f, "{user}:***@")?;
        }
        write!(f, "{}", authority(&self.host, self.port))
    }
}

impl ProxyUrl {
    /// Parse a proxy URL (see the type's docs). `https://` proxies (TLS to
    /// the proxy itself) and other schemes are refused with a reason.
    pub fn parse(url: &str) -> Result<ProxyUrl, String> {
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((s, rest)) => {
                let scheme =
                    match s.to_ascii_lowercase().as_str() {
                        "http" => ProxyScheme::Http,
                        "socks5" => ProxyScheme::Socks5,
                        "socks5h" => ProxyScheme::Socks5h,
                        "https" => return Err(
                            "https:// proxies (TLS to the proxy) are not supported; use http://"
                                .into(),
                        ),
                        _ => {
                            return Err(format!(
                                "unsupported proxy scheme {s:?} (http, socks5 or socks5h)"
                            ));
                        }
                    };
                (scheme, rest)
            }
            None => (ProxyScheme::Http, url),
        };
        // A trailing slash (curl and Python accept `http://proxy:3128/`).
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err("a proxy URL has no path, query or fragment".into());
        }
        let (credentials, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hostport)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let user = percent_decode(user)?;
                let password = percent_decode(password)?;
                if user.len() > 255 || password.len() > 255 {
                    return Err("proxy user name and password are limited to 255 bytes each".into());
                }
                (Some((user, password)), hostport)
            }
            None => (None, rest),
        };
        let default_port = match scheme {
            ProxyScheme::Http => 80,
            ProxyScheme::Socks5 | ProxyScheme::Socks5h => 1080,
        };
        let (host, port) = split_authority(hostport, default_port)?;
        Ok(ProxyUrl {
            scheme,
            host: host.to_owned(),
            port,
            credentials,
        })
    }
}

/// `%XX` escapes decoded; the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| core::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("bad percent escape in proxy credentials")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "proxy credentials are not UTF-8".into())
}

/// `host:port` with IPv6 addresses in brackets.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The proxy the environment asks for, for a connection to `host:port`:
/// `None` for a direct connection.
///
/// `var` looks up an environment variable. The order is python
/// `websockets`': `wss_proxy` (for `wss://`, `ws_proxy` for `ws://`), then
/// `https_proxy` (`http_proxy`), then `all_proxy`; each lowercase name
/// first, then its uppercase one, except `HTTP_PROXY` (which CGI servers
/// fill from a request header, as curl also refuses it); an empty value
/// counts as unset. `no_proxy` (or `NO_PROXY`) lists the hosts that are
/// reached directly ([`bypasses_proxy`]).
pub fn proxy_from_env(
    secure: bool,
    host: &str,
    port: u16,
    var: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let get = |name: &str| {
        let upper = name.to_ascii_uppercase();
        var(name).filter(|v| !v.trim().is_empty()).or_else(|| {
            (upper != "HTTP_PROXY")
                .then(|| var(&upper))
                .flatten()
                .filter(|v| !v.trim().is_empty())
        })
    };
    let names: [&str; 3] = if secure {
        ["wss_proxy", "https_proxy", "all_proxy"]
    } else {
        ["ws_proxy", "http_proxy", "all_proxy"]
    };
    let proxy = names.iter().find_map(|n| get(n))?;
    match get("no_proxy") {
        Some(list) if bypasses_proxy(&list, host, port) => None,
        _ => Some(proxy),
    }
}

/// Whether `no_proxy`'s `list` says `host:port` is reached directly.
///
/// Entries are separated by commas (spaces around them ignored): `*`
/// (every host); a domain, matching itself and its subdomains (`.example.com`
/// and `*.example.com` mean the same as `example.com`); an IP address; a
/// CIDR range (`10.0.0.0/8`, `fd00::/8`), matching IP addresses only; any
/// of these but `*` with `:port` to match that port only (IPv6 in
/// brackets). Names compare without case and without a trailing dot.
pub fn bypasses_proxy(list: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ip: Option<IpAddr> = host.parse().ok();
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        if entry.is_empty() {
            return false;
        }
        let (pattern, entry_port) = entry_port(entry);
        if entry_port.is_some_and(|p| p != port) {
            return false;
        }
        if let Some((net, bits)) = pattern.split_once('/') {
            return match (net.parse::<IpAddr>(), bits.parse::<u8>(), host_ip) {
                (Ok(net), Ok(bits), Some(ip)) => in_cidr(ip, net, bits),
                _ => false,
            };
        }
        if let Ok(ip) = pattern.parse::<IpAddr>() {
            return host_ip == Some(ip);
        }
        let domain = pattern
            .trim_start_matches('*')
            .trim_start_matches('.')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        !domain.is_empty()
            && (host == domain
                || (host.len() > domain.len()
                    && host.ends_with(&domain)
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'))
    })
}

/// A `no_proxy` entry's pattern and port, if it has one.
fn entry_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(v6) = entry.strip_prefix('[') {
        return match v6.split_once(']') {
            Some((ip, after)) => (ip, after.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (entry, None),
        };
    }
    // A bare IPv6 address or range has several colons and no port.
    match entry.rsplit_once(':') {
        Some((pattern, port)) if !pattern.contains(':') => match port.parse() {
            Ok(port) => (pattern, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        // An IPv4 host against an IPv4-mapped IPv6 range, and the reverse.
        (IpAddr::V4(ip), IpAddr::V6(_)) => in_cidr(IpAddr::V6(ip.to_ipv6_mapped()), net, bits),
        (IpAddr::V6(ip), IpAddr::V4(_)) => ip
            .to_ipv4_mapped()
            .is_some_and(|ip| in_cidr(IpAddr::V4(ip), net, bits)),
        _ => false,
    }
}

// ------------------------------------------------------------- HTTP CONNECT

/// The `CONNECT` request asking an HTTP proxy for a tunnel to `host:port`,
/// with `Proxy-Authorization: Basic` when there are credentials.
pub fn connect_request(host: &str, port: u16, credentials: Option<&(String, String)>) -> Vec<u8> {
    let target = authority(host, port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some((user, password)) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str("Proxy-Authorization: Basic ");
        request.push_str(&token);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// What an HTTP proxy answered to `CONNECT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectReply {
    /// More bytes are needed for the whole response head.
    Partial,
    /// A 2xx: the tunnel is open after the head's `len` bytes.
    Open {
        /// The length of the response head, blank line included.
        len: usize,
    },
    /// Any other status: no tunnel.
    Refused {
        /// The proxy's status (407: credentials missing or wrong).
        status: u16,
        /// Its reason phrase.
        reason: String,
    },
}

/// Parse (the start of) an HTTP proxy's answer to `CONNECT`. `Err` for
/// bytes that are not an HTTP/1.x response head.
pub fn parse_connect_reply(bytes: &[u8]) -> Result<ConnectReply, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(bytes) {
        Ok(httparse::Status::Partial) => Ok(ConnectReply::Partial),
        Ok(httparse::Status::Complete(len)) => {
            let status = response.code.unwrap_or(0);
            if (200..300).contains(&status) {
                Ok(ConnectReply::Open { len })
            } else {
                Ok(ConnectReply::Refused {
                    status,
                    reason: response.reason.unwrap_or("").to_owned(),
                })
            }
        }
        Err(e) => Err(format!("not an HTTP response to CONNECT: {e}")),
    }
}

// ------------------------------------------------------------------ SOCKS5

/// SOCKS5 authentication: none.
pub const SOCKS5_NO_AUTH: u8 = 0x00;
/// SOCKS5 authentication: user name and password (RFC 1929).
pub const SOCKS5_USER_PASSWORD: u8 = 0x02;

/// The client's greeting: the authentication methods it offers (user name
/// and password only when it has credentials).
pub fn socks5_greeting(has_credentials: bool) -> Vec<u8> {
    if has_credentials {
        vec![5, 2, SOCKS5_NO_AUTH, SOCKS5_USER_PASSWORD]
    } else {
        vec![5, 1, SOCKS5_NO_AUTH]
    }
}

/// The method the proxy chose, from its two-byte answer to the greeting.
/// `Err` if it accepts none of those offered, or the answer is not SOCKS5.
pub fn socks5_chosen_method(reply: [u8; 2], has_credentials: bool) -> Result<u8, String> {
    match reply {
        [5, SOCKS5_NO_AUTH] => Ok(SOCKS5_NO_AUTH),
        [5, SOCKS5_USER_PASSWORD] if has_credentials => Ok(SOCKS5_USER_PASSWORD),
        [5, 0xFF] if has_credentials => {
            Err("the SOCKS5 proxy accepts none of our authentication methods".into())
        }
        [5, 0xFF] => Err("the SOCKS5 proxy requires authentication (no credentials given)".into()),
        [5, m] => Err(format!(
            "the SOCKS5 proxy chose a method we did not offer ({m})"
        )),
        [v, _] => Err(format!("not a SOCKS5 proxy (version {v})")),
    }
}

/// The RFC 1929 user name and password request (each at most 255 bytes:
/// [`ProxyUrl::parse`] checks).
pub fn socks5_auth_request(user: &str, password: &str) -> Vec<u8> {
    let mut request = Vec::with_capacity(3 + user.len() + password.len());
    request.push(1);
    request.push(user.len().min(255) as u8);
    request.extend_from_slice(&user.as_bytes()[..user.len().min(255)]);
    request.push(password.len().min(255) as u8);
    request.extend_from_slice(&password.as_bytes()[..password.len().min(255)]);
    request
}

/// Whether the proxy accepted the user name and password (its two-byte
/// answer; any status but 0 is a refusal).
pub fn socks5_auth_accepted(reply: [u8; 2]) -> bool {
    reply[1] == 0
}

/// The server's address as the SOCKS5 request carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocksTarget {
    /// An address the client resolved.
    Ip(IpAddr),
    /// A name the proxy resolves (at most 255 bytes).
    Name(String),
}

/// The `CONNECT` request for `target:port`. `Err` for a name over 255
/// bytes.
pub fn socks5_connect_request(target: &SocksTarget, port: u16) -> Result<Vec<u8>, String> {
    let mut request = vec![5, 1, 0];
    match target {
        SocksTarget::Ip(IpAddr::V4(ip)) => {
            request.push(1);
            request.extend_from_slice(&ip.octets());
        }
        SocksTarget::Ip(IpAddr::V6(ip)) => {
            request.push(4);
            request.extend_from_slice(&ip.octets());
        }
        SocksTarget::Name(name) => {
            let len = u8::try_from(name.len())
                .map_err(|_| "a host name over 255 bytes cannot go through SOCKS5".to_owned())?;
            request.push(3);
            request.push(len);
            request.extend_from_slice(name.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    Ok(request)
}

/// The length of the proxy's whole reply to `CONNECT`, from its first five
/// bytes (the length depends on the address type). `Err` if they are not
/// a SOCKS5 reply.
pub fn socks5_reply_len(head: [u8; 5]) -> Result<usize, String> {
    if head[0] != 5 {
        return Err(format!("not a SOCKS5 reply (version {})", head[0]));
    }
    match head[3] {
        1 => Ok(4 + 4 + 2),
        4 => Ok(4 + 16 + 2),
        3 => Ok(4 + 1 + usize::from(head[4]) + 2),
        t => Err(format!("SOCKS5 reply with unknown address type {t}")),
    }
}

/// The reply code of a SOCKS5 reply (0: the tunnel is open) and what it
/// means (RFC 1928 section 6).
pub fn socks5_reply_code(head: [u8; 5]) -> (u8, &'static str) {
    let code = head[1];
    let meaning = match code {
        0 => "succeeded",
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown reply code",
    };
    (code, meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_with_defaults_and_decoded_credentials() {
        let p = ProxyUrl::parse("http://us%40er:p%3Ass@proxy.local:3128/").unwrap();
        assert_eq!(p.scheme, ProxyScheme::Http);
        assert_eq!((p.host.as_str(), p.port), ("proxy.local", 3128));
        assert_eq!(p.credentials, Some(("us@er".into(), "p:ss".into())));
        assert_eq!(p.to_string(), "http://us@er:***@proxy.local:3128");
        assert_eq!(
            format!("{p:?}"),
            p.to_string(),
            "Debug hides the password too"
        );

        let p = ProxyUrl::parse("SOCKS5H://[::1]").unwrap();
        assert_eq!(
            (p.scheme, p.host.as_str(), p.port),
            (ProxyScheme::Socks5h, "::1", 1080)
        );
        let p = ProxyUrl::parse("proxy:8080").unwrap();
        assert_eq!((p.scheme, p.port), (ProxyScheme::Http, 8080));
        assert_eq!(ProxyUrl::parse("socks5://h").unwrap().port, 1080);
        assert_eq!(ProxyUrl::parse("http://h").unwrap().port, 80);

        for bad in [
            "https://proxy:443",
            "ftp://proxy",
            "http://",
            "http://proxy:0",
            "http://proxy:99999",
            "http://proxy/path",
            "http://[::1",
            "http://u:%zz@proxy",
            "http://pro xy:80",
            "http://proxy\r\n:80",
        ] {
            assert!(ProxyUrl::parse(bad).is_err(), "{bad}");
        }
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_environment_is_read_in_websockets_order() {
        let all = env(&[
            ("wss_proxy", "a"),
            ("https_proxy", "b"),
            ("all_proxy", "c"),
            ("ws_proxy", "d"),
            ("http_proxy", "e"),
        ]);
        assert_eq!(proxy_from_env(true, "h", 443, &all).as_deref(), Some("a"));
        assert_eq!(proxy_from_env(false, "h", 80, &all).as_deref(), Some("d"));
        let fallback = env(&[
            ("https_proxy", ""),
            ("HTTPS_PROXY", "B"),
            ("ALL_PROXY", "C"),
        ]);
        assert_eq!(
            proxy_from_env(true, "h", 443, &fallback).as_deref(),
            Some("B")
        );
        assert_eq!(
            proxy_from_env(false, "h", 80, &fallback).as_deref(),
            Some("C")
        );
        // Uppercase HTTP_PROXY is never read (CGI fills it from a header).
        let cgi = env(&[("HTTP_PROXY", "evil")]);
        assert_eq!(proxy_from_env(false, "h", 80, &cgi), None);
        let bypass = env(&[("all_proxy", "c"), ("NO_PROXY", "h, .example.com")]);
        assert_eq!(proxy_from_env(true, "h", 443, &bypass), None);
        assert_eq!(proxy_from_env(true, "a.example.com", 443, &bypass), None);
        assert_eq!(
            proxy_from_env(true, "other", 443, &bypass).as_deref(),
            Some("c")
        );
        assert_eq!(proxy_from_env(true, "h", 443, env(&[])), None);
    }

    #[test]
    fn no_proxy_matches_names_suffixes_addresses_ranges_and_ports() {
        let list = "localhost, .internal.example, *.corp, 10.0.0.0/8, fd00::/8, 192.168.1.7, [::1]:8080, api.test:9000";
        for (host, port) in [
            ("localhost", 80),
            ("LOCALHOST.", 80),
            ("internal.example", 443),
            ("a.b.internal.example", 443),
            ("x.corp", 1),
            ("10.1.2.3", 80),
            ("fd12::1", 80),
            ("192.168.1.7", 80),
            ("::1", 8080),
            ("api.test", 9000),
        ] {
            assert!(bypasses_proxy(list, host, port), "{host}:{port} bypasses");
        }
        for (host, port) in [
            ("notlocalhost", 80),
            ("xinternal.example", 443),
            ("11.0.0.1", 80),
            ("fe80::1", 80),
            ("192.168.1.8", 80),
            ("::1", 8081),
            ("api.test", 9001),
            ("10.example", 80),
        ] {
            assert!(
                !bypasses_proxy(list, host, port),
                "{host}:{port} goes through"
            );
        }
        assert!(bypasses_proxy("*", "anything", 1));
        assert!(bypasses_proxy("127.0.0.1", "127.0.0.1", 5));
        assert!(
            bypasses_proxy("::ffff:0:0/96", "1.2.3.4", 5),
            "mapped range"
        );
        assert!(!bypasses_proxy("", "h", 1));
        assert!(!bypasses_proxy(" , ", "h", 1));
        assert!(!bypasses_proxy("10.0.0.0/99", "10.0.0.1", 1));
    }

    #[test]
    fn connect_requests_and_replies() {
        let creds = ("Aladdin".to_owned(), "open sesame".to_owned());
        assert_eq!(
            String::from_utf8(connect_request("::1", 443, Some(&creds))).unwrap(),
            "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\
             Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
        );
        assert_eq!(
            parse_connect_reply(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Ok(ConnectReply::Open { len: 39 })
        );
        assert_eq!(
            parse_connect_reply(b"HTTP/1.0 200 OK\r\n"),
            Ok(ConnectReply::Partial)
        );
        assert_eq!(
            parse_connect_reply(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"
            ),
            Ok(ConnectReply::Refused {
                status: 407,
                reason: "Proxy Authentication Required".into()
            })
        );
        assert!(parse_connect_reply(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    #[test]
    fn socks5_messages() {
        assert_eq!(socks5_greeting(false), [5, 1, 0]);
        assert_eq!(socks5_greeting(true), [5, 2, 0, 2]);
        assert_eq!(socks5_chosen_method([5, 0], false), Ok(0));
        assert_eq!(socks5_chosen_method([5, 2], true), Ok(2));
        assert!(socks5_chosen_method([5, 2], false).is_err());
        assert!(
            socks5_chosen_method([5, 0xFF], false)
                .unwrap_err()
                .contains("requires authentication")
        );
        assert!(socks5_chosen_method([4, 0], false).is_err());
        assert_eq!(socks5_auth_request("u", "pw"), [1, 1, b'u', 2, b'p', b'w']);
        assert!(socks5_auth_accepted([1, 0]) && !socks5_auth_accepted([1, 1]));
        assert_eq!(
            socks5_connect_request(&SocksTarget::Name("example.com".into()), 443).unwrap(),
            [&[5, 1, 0, 3, 11][..], b"example.com", &[1, 187]].concat()
        );
        assert_eq!(
            socks5_connect_request(&SocksTarget::Ip("127.0.0.1".parse().unwrap()), 80).unwrap(),
            [5, 1, 0, 1, 127, 0, 0, 1, 0, 80]
        );
        assert_eq!(
            socks5_connect_request(&SocksTarget::Ip("::1".parse().unwrap()), 80)
                .unwrap()
                .len(),
            4 + 16 + 2
        );
        assert!(socks5_connect_request(&SocksTarget::Name("a".repeat(256)), 1).is_err());
        assert_eq!(socks5_reply_len([5, 0, 0, 1, 0]), Ok(10));
        assert_eq!(socks5_reply_len([5, 0, 0, 4, 0]), Ok(22));
        assert_eq!(socks5_reply_len([5, 0, 0, 3, 7]), Ok(14));
        assert!(socks5_reply_len([5, 0, 0, 9, 0]).is_err());
        assert_eq!(
            socks5_reply_code([5, 5, 0, 1, 0]),
            (5, "connection refused")
        );
    }
}
