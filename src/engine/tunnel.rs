//! A client's way to its server: a TCP connection to one of the server's
//! addresses, or a tunnel through an HTTP or SOCKS5 proxy
//! ([`Config::proxy`]). Whatever runs over the stream returned (TLS, the
//! upgrade) cannot tell the difference.
//!
//! All of it (name resolution aside: the system resolver has no timeout
//! of ours) happens within [`Config::connect_timeout`]. A host with several
//! addresses is tried address by address, in the resolver's order, each
//! attempt getting an equal share of the time left, so one address that
//! does not answer cannot use up the time of the others; the error names
//! every address and why it failed.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::protocol::handshake::WsUrl;
use crate::protocol::proxy::{
    self, ConnectReply, ProxyScheme, ProxyUrl, SOCKS5_USER_PASSWORD, SocksTarget, authority,
};
use crate::proxy::{ProxyError, ProxyErrorKind};

/// A TCP stream to the server of `url`, directly or through the proxy the
/// config asks for. Timeouts set on the socket while tunnelling are
/// cleared again.
pub(crate) fn open(url: &WsUrl, config: &Config) -> Result<TcpStream> {
    let deadline = Instant::now() + config.connect_timeout;
    let Some(proxy) = config.proxy.resolve(url.secure, &url.host, url.port)? else {
        return connect_any(&url.host, url.port, deadline);
    };
    let tcp = match proxy.scheme {
        ProxyScheme::Http => http_tunnel(&proxy, url, deadline, config.max_handshake_bytes)?,
        ProxyScheme::Socks5h => {
            let target = match url.host.parse::<IpAddr>() {
                Ok(ip) => SocksTarget::Ip(ip),
                Err(_) => SocksTarget::Name(url.host.clone()),
            };
            socks5_tunnel(&proxy, &target, url.port, deadline)?
        }
        ProxyScheme::Socks5 => socks5_resolved(&proxy, url, deadline)?,
    };
    tcp.set_read_timeout(None)?;
    tcp.set_write_timeout(None)?;
    Ok(tcp)
}

/// Connect to `host:port`, trying each address in turn by `deadline`.
pub(crate) fn connect_any(host: &str, port: u16, deadline: Instant) -> Result<TcpStream> {
    let addrs = resolve(host, port)?;
    let mut failures: Vec<(SocketAddr, io::Error)> = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            failures.push((*addr, io::ErrorKind::TimedOut.into()));
            continue;
        }
        // An equal share of what is left among the addresses not tried yet.
        let share = (left / u32::try_from(addrs.len() - i).unwrap_or(u32::MAX))
            .max(Duration::from_millis(1));
        match TcpStream::connect_timeout(addr, share) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => failures.push((*addr, e)),
        }
    }
    Err(connect_failed(host, port, failures))
}

fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::Io(io::Error::new(
                e.kind(),
                format!("cannot resolve {host}: {e}"),
            ))
        })?
        .collect();
    if addrs.is_empty() {
        return Err(Error::Io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} has no address"),
        )));
    }
    Ok(addrs)
}

/// One error for every address that failed: [`Error::Timeout`] if each
/// ran out of time, else an I/O error (of the first failure's kind that
/// was not a timeout) listing them all.
fn connect_failed(host: &str, port: u16, failures: Vec<(SocketAddr, io::Error)>) -> Error {
    let timed_out = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        )
    };
    if failures.iter().all(|(_, e)| timed_out(e)) {
        return Error::Timeout;
    }
    let kind = failures
        .iter()
        .map(|(_, e)| e.kind())
        .find(|k| !matches!(k, io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock))
        .unwrap_or(io::ErrorKind::Other);
    let each: Vec<String> = failures
        .iter()
        .map(|(addr, e)| {
            let why = if timed_out(e) {
                "timed out".to_owned()
            } else {
                e.to_string()
            };
            format!("{addr}: {why}")
        })
        .collect();
    Error::Io(io::Error::new(
        kind,
        format!(
            "cannot connect to {}: {}",
            authority(host, port),
            each.join("; ")
        ),
    ))
}

fn proxy_error(proxy: &ProxyUrl, kind: ProxyErrorKind, detail: impl Into<String>) -> Error {
    Error::Proxy(ProxyError {
        kind,
        proxy: proxy.to_string(),
        detail: detail.into(),
    })
}

/// Time left before `deadline`, as an error once it has passed.
fn left(deadline: Instant) -> Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(Error::Timeout)
    } else {
        Ok(left)
    }
}

fn send(tcp: &mut TcpStream, bytes: &[u8], deadline: Instant) -> Result<()> {
    tcp.set_write_timeout(Some(left(deadline)?))?;
    tcp.write_all(bytes)?;
    Ok(())
}

/// Read exactly `buf.len()` bytes by `deadline`; the proxy closing first
/// is a protocol error.
fn receive(tcp: &mut TcpStream, buf: &mut [u8], deadline: Instant, proxy: &ProxyUrl) -> Result<()> {
    let mut got = 0;
    while got < buf.len() {
        got += read_some(tcp, &mut buf[got..], deadline, proxy)?;
    }
    Ok(())
}

/// Read what comes (at least one byte) by `deadline`; the proxy closing
/// first is a protocol error.
fn read_some(
    tcp: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    proxy: &ProxyUrl,
) -> Result<usize> {
    loop {
        tcp.set_read_timeout(Some(left(deadline)?))?;
        match tcp.read(buf) {
            Ok(0) => {
                return Err(proxy_error(
                    proxy,
                    ProxyErrorKind::Protocol,
                    "the proxy closed the connection",
                ));
            }
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// HTTP `CONNECT` to `url`'s host and port through `proxy`.
fn http_tunnel(proxy: &ProxyUrl, url: &WsUrl, deadline: Instant, max: usize) -> Result<TcpStream> {
    let mut tcp = connect_any(&proxy.host, proxy.port, deadline)?;
    let request = proxy::connect_request(&url.host, url.port, proxy.credentials.as_ref());
    send(&mut tcp, &request, deadline)?;
    // Nothing of the tunnel can follow the answer before we speak: the
    // server talks second in both the WebSocket handshake and TLS. So the
    // answer is read as it comes, and anything after its head is an error.
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        let n = read_some(&mut tcp, &mut chunk, deadline, proxy)?;
        head.extend_from_slice(&chunk[..n]);
        return match proxy::parse_connect_reply(&head) {
            Ok(ConnectReply::Open { len }) if len == head.len() => Ok(tcp),
            Ok(ConnectReply::Open { .. }) => Err(proxy_error(
                proxy,
                ProxyErrorKind::Protocol,
                "the proxy sent bytes after its answer to CONNECT",
            )),
            Ok(ConnectReply::Partial) if head.len() < max => continue,
            Ok(ConnectReply::Partial) => Err(proxy_error(
                proxy,
                ProxyErrorKind::Protocol,
                format!("the proxy's answer to CONNECT is over {max} bytes"),
            )),
            Ok(ConnectReply::Refused { status, reason }) => Err(proxy_error(
                proxy,
                ProxyErrorKind::Refused(status),
                format!(
                    "the proxy refused the tunnel to {}: HTTP {status} {reason}",
                    authority(&url.host, url.port)
                ),
            )),
            Err(why) => Err(proxy_error(proxy, ProxyErrorKind::Protocol, why)),
        };
    }
}

/// SOCKS5 with the client resolving the name: each of the server's
/// addresses in turn, each through a new connection to the proxy, until
/// the proxy reaches one.
fn socks5_resolved(proxy: &ProxyUrl, url: &WsUrl, deadline: Instant) -> Result<TcpStream> {
    let addrs = resolve(&url.host, url.port)?;
    let mut last = None;
    for addr in addrs {
        match socks5_tunnel(proxy, &SocksTarget::Ip(addr.ip()), url.port, deadline) {
            Ok(tcp) => return Ok(tcp),
            // The proxy could not reach this address: try the next.
            Err(Error::Proxy(e)) if matches!(e.kind, ProxyErrorKind::SocksReply(3..=6)) => {
                last = Some(Error::Proxy(e));
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(Error::Timeout))
}

/// A SOCKS5 tunnel to `target:port` through `proxy`.
fn socks5_tunnel(
    proxy: &ProxyUrl,
    target: &SocksTarget,
    port: u16,
    deadline: Instant,
) -> Result<TcpStream> {
    let request = proxy::socks5_connect_request(target, port)
        .map_err(|why| proxy_error(proxy, ProxyErrorKind::Protocol, why))?;
    let mut tcp = connect_any(&proxy.host, proxy.port, deadline)?;
    let creds = proxy.credentials.as_ref();
    send(&mut tcp, &proxy::socks5_greeting(creds.is_some()), deadline)?;
    let mut choice = [0u8; 2];
    receive(&mut tcp, &mut choice, deadline, proxy)?;
    let method = proxy::socks5_chosen_method(choice, creds.is_some()).map_err(|why| {
        let kind = if choice == [5, 0xFF] {
            ProxyErrorKind::AuthFailed
        } else {
            ProxyErrorKind::Protocol
        };
        proxy_error(proxy, kind, why)
    })?;
    if let (SOCKS5_USER_PASSWORD, Some((user, password))) = (method, creds) {
        send(
            &mut tcp,
            &proxy::socks5_auth_request(user, password),
            deadline,
        )?;
        let mut verdict = [0u8; 2];
        receive(&mut tcp, &mut verdict, deadline, proxy)?;
        if !proxy::socks5_auth_accepted(verdict) {
            return Err(proxy_error(
                proxy,
                ProxyErrorKind::AuthFailed,
                "the SOCKS5 proxy refused the user name and password",
            ));
        }
    }
    send(&mut tcp, &request, deadline)?;
    let mut head = [0u8; 5];
    receive(&mut tcp, &mut head, deadline, proxy)?;
    let len = proxy::socks5_reply_len(head)
        .map_err(|why| proxy_error(proxy, ProxyErrorKind::Protocol, why))?;
    let (code, meaning) = proxy::socks5_reply_code(head);
    if code != 0 {
        let target = match target {
            SocksTarget::Ip(ip) => authority(&ip.to_string(), port),
            SocksTarget::Name(name) => authority(name, port),
        };
        return Err(proxy_error(
            proxy,
            ProxyErrorKind::SocksReply(code),
            format!("the SOCKS5 proxy could not connect to {target}: {meaning} ({code})"),
        ));
    }
    // The rest of the reply: the address the proxy connected from.
    let mut rest = vec![0u8; len - head.len()];
    receive(&mut tcp, &mut rest, deadline, proxy)?;
    Ok(tcp)
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn every_address_is_tried_and_every_failure_named() {
        // A port nobody listens on, on two loopback addresses (IPv6 when
        // the machine has it): both refuse, both are named.
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let failures = vec![
            (
                SocketAddr::from(([127, 0, 0, 1], port)),
                io::Error::from(io::ErrorKind::ConnectionRefused),
            ),
            (
                SocketAddr::from(([127, 0, 0, 2], port)),
                io::Error::from(io::ErrorKind::TimedOut),
            ),
        ];
        let e = connect_failed("example.test", port, failures);
        let text = e.to_string();
        assert!(
            matches!(&e, Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused),
            "{e:?}"
        );
        assert!(text.contains(&format!("127.0.0.1:{port}: ")), "{text}");
        assert!(
            text.contains(&format!("127.0.0.2:{port}: timed out")),
            "{text}"
        );
        assert!(text.contains(&format!("example.test:{port}")), "{text}");

        let all_late = vec![(
            SocketAddr::from(([127, 0, 0, 1], port)),
            io::ErrorKind::TimedOut.into(),
        )];
        assert!(matches!(
            connect_failed("h", port, all_late),
            Error::Timeout
        ));

        // And for real: "localhost" may resolve to ::1 and 127.0.0.1.
        let e =
            connect_any("localhost", port, Instant::now() + Duration::from_secs(2)).unwrap_err();
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    }
}
