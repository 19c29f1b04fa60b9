//! `connect`: the client side, over `ws://` and `wss://`.

use std::sync::Arc;

use rustls_pki_types::ServerName;

use super::conn::{Conn, RequestInfo};
use super::head::read_head;
use super::launch::{Upgraded, establish};
use super::spawn::spawn_detached;
use super::timer;
use super::tls_stream::TlsStream;
use super::transport::Transport;
use super::tunnel;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::protocol::Role;
use crate::protocol::handshake::{ClientHandshake, ClientRequest, WsUrl};
use crate::tls::TlsError;

/// Open a WebSocket connection to a `ws://` or `wss://` URL
/// (`ws[s]://host[:port][/path][?query]`).
///
/// Runs on the calling thread until the handshake is done: TCP connect
/// (each resolved address in turn, each with its share of
/// [`Config::connect_timeout`]; through a tunnel when [`Config::proxy`]
/// names a proxy, tunnel included in that timeout),
/// for `wss://` the TLS handshake with [`Config::client_tls`] (the server's
/// certificate verified for the URL's host), then the upgrade, offering
/// [`Config::subprotocols`] and sending [`Config::extra_headers`]; TLS and
/// upgrade together within [`Config::handshake_timeout`]. Then a reader
/// thread takes over (and a writer thread, once a frame has to wait) and
/// the open [`Conn`] is returned.
///
/// # Errors
/// [`Error::Url`] for a bad URL; [`Error::Io`] if no address accepts the
/// TCP connection (naming each address and its failure);
/// [`Error::Proxy`] if a proxy refuses the tunnel (an HTTP proxy's status
/// is in it); [`Error::Timeout`]; [`Error::Tls`] if TLS fails (its
/// [`kind`](crate::TlsError::kind) says which check); [`Error::Handshake`]
/// if the server refuses (its HTTP status is in the error) or answers
/// wrongly; [`Error::InvalidArgument`] for an invalid config or header.
pub fn connect(url: &str, config: Config) -> Result<Conn> {
    config.validate()?;
    let url = WsUrl::parse(url).map_err(Error::Url)?;
    // Unusable TLS settings fail before any packet is sent.
    let tls = if url.secure {
        let name = config.client_tls.server_name(&url.host).to_owned();
        let name = ServerName::try_from(name)
            .map_err(|e| Error::Url(format!("not a host name for TLS: {e}")))?;
        Some((config.client_tls.rustls_config()?, name))
    } else {
        None
    };
    let tcp = tunnel::open(&url, &config)?;
    tcp.set_nodelay(true)?;
    let deadline = super::timer::deadline_in(config.handshake_timeout);
    let stream = match tls {
        None => Transport::Tcp(tcp),
        Some((tls, name)) => {
            let session = rustls::ClientConnection::new(tls, name)
                .map_err(|e| Error::Tls(TlsError::from_rustls(&e)))?;
            let stream = TlsStream::new(tcp, session.into());
            stream.handshake(deadline)?;
            Transport::Tls(Box::new(stream))
        }
    };

    let request = ClientRequest {
        host: url.host_header(),
        resource: url.resource.clone(),
        subprotocols: config.subprotocols.clone(),
        headers: config.extra_headers.clone(),
        deflate: config.deflate.clone(),
    };
    let mut key = [0u8; 16];
    getrandom::fill(&mut key).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    let (handshake, bytes) = ClientHandshake::new(&request, key).map_err(Error::InvalidArgument)?;
    stream.write_by(&bytes, deadline)?;
    let max = config.max_handshake_bytes;
    let (response, leftover) =
        read_head(&stream, deadline, max, |b| handshake.parse_response(b, max))?;
    // (Handshake writes wait with `poll`: no write timeout was set.)
    stream.tcp().set_read_timeout(None)?;

    let (path, query) = match url.resource.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (url.resource.clone(), None),
    };
    let info = RequestInfo {
        path,
        query,
        headers: response.headers,
        subprotocol: response.subprotocol,
        compression: response.deflate,
        peer_addr: stream.tcp().peer_addr()?,
        local_addr: stream.tcp().local_addr()?,
        peer_certificates: stream.peer_certificates(),
    };
    timer::init()?;
    let upgraded = Upgraded {
        id: super::shared::next_id(),
        stream,
        role: Role::Client,
        info,
        leftover,
    };
    let stack = config.thread_stack_size;
    let (conn, reader) = establish(upgraded, Arc::new(config), Arc::new(()), false);
    spawn_detached("wsengine-read", stack, move || reader.run())?;
    Ok(conn)
}
