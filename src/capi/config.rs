//! Configuration: a mutable builder, frozen into a shareable config.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use super::boundary::ffi_boundary;
use super::handles::{
    Handle, Owned, Shared, borrow_mut, bytes, c_str, free_arc, into_arc, into_box, null, take_box,
    try_rc, write_out,
};
use super::millis;
use super::result::{fail, set_last_error, wse_result};
use crate::config::{Config, OriginPolicy, OverflowPolicy};
use crate::proxy::Proxy;

/// A configuration being built: every limit, timeout and policy of servers
/// and clients, starting from safe defaults.
///
/// Methods: `wse_config_builder_new`, `wse_config_builder_set_*`,
/// `wse_config_builder_add_*`, `wse_config_builder_build`,
/// `wse_config_builder_free`.
pub struct wse_config_builder {
    _private: [u8; 0],
}

impl Handle for wse_config_builder {
    type Rust = Config;
    type Ownership = Owned;
}

/// A frozen configuration, shareable between servers and clients and safe to
/// use from any thread. Methods: `wse_config_free`.
pub struct wse_config {
    _private: [u8; 0],
}

impl Handle for wse_config {
    type Rust = Config;
    type Ownership = Shared;
}

/// What sending does when a connection's send queue is full (see
/// `wse_config_builder_set_overflow_policy`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wse_overflow_policy {
    /// Wait up to a timeout for room, then fail with `WSE_RESULT_TIMEOUT`.
    Block = 0,
    /// Fail at once with `WSE_RESULT_QUEUE_FULL`.
    Fail = 1,
    /// Close the slow peer with 1008 and fail with `WSE_RESULT_CLOSED`.
    Disconnect = 2,
}

/// Set a timeout that must have a limit (handshake, connect, close).
fn finite(
    builder: *mut wse_config_builder,
    value: u32,
    what: &str,
    set: impl FnOnce(&mut Config, Duration),
) -> wse_result {
    match millis(value) {
        Some(d) => with_builder(builder, |c| set(c, d)),
        None => {
            set_last_error(&format!("the {what} cannot be infinite"), 0);
            wse_result::InvalidArgument
        }
    }
}

/// A setting that 0 and `WSE_TIMEOUT_INFINITE` both turn off.
fn optional(value: u32) -> Option<Duration> {
    millis(value).filter(|d| !d.is_zero())
}

pub(crate) fn with_builder(
    builder: *mut wse_config_builder,
    set: impl FnOnce(&mut Config),
) -> wse_result {
    match borrow_mut(builder) {
        Some(config) => {
            set(config);
            wse_result::Ok
        }
        None => null("builder"),
    }
}

/// A new builder holding the default configuration.
///
/// Ownership: the caller owns the builder; pass it to
/// `wse_config_builder_build` (which consumes it) or `wse_config_builder_free`.
/// Thread safety: any thread.
/// Errors: returns NULL only if a panic was caught.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_new() -> *mut wse_config_builder {
    ffi_boundary! { into_box::<wse_config_builder>(Config::default()) }
}

/// Free a builder that was not built. Calling with NULL is fine. Must not
/// be called twice with the same value, nor after `wse_config_builder_build`.
///
/// Ownership: gives the builder back; it must not be used again.
/// Thread safety: the builder must not be in use on another thread.
/// Errors: none (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_free(builder: *mut wse_config_builder) {
    ffi_boundary! { drop(take_box(builder)); }
}

/// Check the builder's values and freeze them into a config.
///
/// Ownership: consumes `builder` whether or not it succeeds (do not free it
/// afterwards). On `WSE_RESULT_OK`, `*config_out` is a new config owned by
/// the caller; release it with `wse_config_free` (servers and connections
/// keep their own copy, so it may be freed right after use). On failure
/// `*config_out` is unchanged.
/// Thread safety: the builder must not be in use on another thread.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_ARGUMENT` for
/// values that make no sense together (see `wse_last_error_message`).
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_build(
    builder: *mut wse_config_builder,
    config_out: *mut *const wse_config,
) -> wse_result {
    ffi_boundary! {
        let Some(config) = take_box(builder) else { return null("builder") };
        if config_out.is_null() {
            return null("config_out");
        }
        if let Err(e) = config.validate() {
            return fail(&e);
        }
        write_out(config_out, into_arc::<wse_config>(Arc::new(config)));
        wse_result::Ok
    }
}

/// Release a config. Calling with NULL is fine. Must not be called twice
/// with the same value.
///
/// Ownership: releases the caller's reference; servers and connections built from the config keep their own copy.
/// Thread safety: any thread, once no other thread is using `config`.
/// Errors: none (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_free(config: *const wse_config) {
    ffi_boundary! { free_arc(config) }
}

/// Choose what sending does on a full send queue: `policy` is a
/// `wse_overflow_policy` value; `block_timeout_ms` is how long
/// `WSE_OVERFLOW_POLICY_BLOCK` waits (`WSE_TIMEOUT_INFINITE`: as long as the
/// connection lives). Default: for a poll-mode server
/// (`wse_config_builder_set_poll_events`) `WSE_OVERFLOW_POLICY_FAIL`, so a
/// poll loop never waits for a slow peer; otherwise block up to 10,000 ms.
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_ARGUMENT` for an
/// unknown policy.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_overflow_policy(
    builder: *mut wse_config_builder,
    policy: u32,
    block_timeout_ms: u32,
) -> wse_result {
    ffi_boundary! {
        let policy = match policy {
            0 => OverflowPolicy::Block(super::timeout(block_timeout_ms)),
            1 => OverflowPolicy::Fail,
            2 => OverflowPolicy::Disconnect,
            other => {
                super::result::set_last_error(&format!("unknown overflow policy {other}"), 0);
                return wse_result::InvalidArgument;
            }
        };
        with_builder(builder, |c| c.overflow_policy = Some(policy))
    }
}

/// Add a subprotocol: for a server, one it supports (in preference order);
/// for a client, one it offers. `name` is NUL-terminated and copied.
///
/// Ownership: the builder stays the caller's; string arguments are copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_add_subprotocol(
    builder: *mut wse_config_builder,
    name: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let name = try_rc!(c_str(name, "name")).to_owned();
        with_builder(builder, |c| c.subprotocols.push(name))
    }
}

/// Server: answer plain `GET path` (and `HEAD`) requests with `len` bytes
/// of `body` as `content_type` (e.g. "text/html; charset=utf-8"), on the
/// WebSocket port. Adding a path twice replaces it. Paths must start with
/// `/` (checked by `wse_config_builder_build`); the query is not part of it.
///
/// Ownership: the builder stays the caller's; strings and body are copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` (`body` may be NULL only when `len`
/// is 0); `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_add_route(
    builder: *mut wse_config_builder,
    path: *const c_char,
    content_type: *const c_char,
    body: *const u8,
    len: usize,
) -> wse_result {
    ffi_boundary! {
        let path = try_rc!(c_str(path, "path")).to_owned();
        let content_type = try_rc!(c_str(content_type, "content_type")).to_owned();
        let body = try_rc!(bytes(body, len, "body")).to_vec();
        with_builder(builder, |c| c.routes.add(path, content_type, body))
    }
}

/// Server: answer plain `GET path` requests with the contents of `file`,
/// read at each request (404 if it cannot be read), its content type from
/// its extension (.html, .css, .js, .json, .svg, .png, ...).
///
/// Ownership: the builder stays the caller's; strings are copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_add_file_route(
    builder: *mut wse_config_builder,
    path: *const c_char,
    file: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let path = try_rc!(c_str(path, "path")).to_owned();
        let file = try_rc!(c_str(file, "file")).to_owned();
        with_builder(builder, |c| c.routes.add_file(path, file))
    }
}

/// Server: answer plain `GET path` with 200 and
/// `{"status":"ok","connections":N}`; NULL turns the health endpoint off
/// (the default).
///
/// Ownership: the builder stays the caller's; `path` is copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` (for `builder`); `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_health_path(
    builder: *mut wse_config_builder,
    path: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let path = if path.is_null() {
            None
        } else {
            Some(try_rc!(c_str(path, "path")).to_owned())
        };
        with_builder(builder, |c| c.routes.health_path = path)
    }
}

/// Server: accept the WebSocket upgrade on `path`. Until this is first
/// called, every path that is not a route accepts it; after, only the
/// paths added (an upgrade elsewhere gets 404, a plain GET of such a path
/// gets 426).
///
/// Ownership: the builder stays the caller's; `path` is copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_add_websocket_path(
    builder: *mut wse_config_builder,
    path: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let path = try_rc!(c_str(path, "path")).to_owned();
        with_builder(builder, |c| c.routes.websocket_paths.get_or_insert_with(Vec::new).push(path))
    }
}

/// Server: accept upgrades only from this `Origin` (call once per allowed
/// origin; requests without an Origin header are still accepted; others get
/// 403). `origin` is NUL-terminated and copied. Without this call (or
/// `wse_config_builder_allow_any_origin`) a server accepts only pages from
/// its own host: an `Origin` whose host and port are the `Host` header's.
///
/// Ownership: the builder stays the caller's; string arguments are copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_add_allowed_origin(
    builder: *mut wse_config_builder,
    origin: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let origin = try_rc!(c_str(origin, "origin")).to_owned();
        with_builder(builder, |c| match &mut c.origins {
            OriginPolicy::Allow(list) => list.push(origin),
            other => *other = OriginPolicy::Allow(vec![origin]),
        })
    }
}

/// Server: accept upgrades from pages of any origin (cross-site WebSocket
/// hijacking is then the application's to prevent: only for servers that
/// authenticate every connection by other means than cookies). Undoes
/// `wse_config_builder_add_allowed_origin`.
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_allow_any_origin(
    builder: *mut wse_config_builder,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.origins = OriginPolicy::AnyOrigin) }
}

/// Server: answer only requests whose `Host` header is this one (call once
/// per allowed host; compared with the whole header and with its host part,
/// case-insensitive; others get 403), against DNS rebinding. Default: any
/// host. `host` is NUL-terminated and copied.
///
/// Ownership: the builder stays the caller's; string arguments are copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_add_allowed_host(
    builder: *mut wse_config_builder,
    host: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let host = try_rc!(c_str(host, "host")).to_owned();
        with_builder(builder, |c| c.allowed_hosts.get_or_insert_with(Vec::new).push(host))
    }
}

/// Client: connect through this proxy: `http://[user:password@]host[:port]`
/// (HTTP `CONNECT`, Basic credentials; port 80 if absent),
/// `socks5://...` (the client resolves the server's name) or
/// `socks5h://...` (the proxy resolves it; port 1080 if absent);
/// credentials percent-encoded. The environment's `*_proxy` and
/// `no_proxy` variables are then not read. `url` is NUL-terminated and
/// copied.
///
/// Ownership: the builder stays the caller's; string arguments are copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`;
/// `WSE_RESULT_INVALID_ARGUMENT` for a URL that cannot be used (an
/// `https://` proxy, another scheme, a bad port; the reason in
/// `wse_last_error_message`, the password never repeated).
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_proxy(
    builder: *mut wse_config_builder,
    url: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let url = try_rc!(c_str(url, "url")).to_owned();
        if let Err(why) = crate::protocol::proxy::ProxyUrl::parse(&url) {
            set_last_error(&format!("proxy: {why}"), 0);
            return wse_result::InvalidArgument;
        }
        with_builder(builder, |c| c.proxy = Proxy::Url(url))
    }
}

/// Client: connect directly, whatever the environment's `*_proxy`
/// variables say.
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_proxy_direct(
    builder: *mut wse_config_builder,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.proxy = Proxy::Direct) }
}

/// Client: use the proxy the environment names (the default): `wss_proxy`
/// (`ws_proxy` for `ws://`), then `https_proxy` (`http_proxy`), then
/// `all_proxy`, lowercase before uppercase (uppercase `HTTP_PROXY` is
/// ignored); hosts in `no_proxy` (names, `.suffixes`, addresses, CIDR
/// ranges, `host:port`, `*`) are reached directly. Read at each connect.
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_proxy_from_environment(
    builder: *mut wse_config_builder,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.proxy = Proxy::FromEnvironment) }
}

/// Client: send this extra header line with the upgrade request (e.g.
/// `Authorization`). Both strings are NUL-terminated and copied; CR and LF
/// are refused when connecting.
///
/// Ownership: the builder stays the caller's; string arguments are copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_add_header(
    builder: *mut wse_config_builder,
    name: *const c_char,
    value: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let name = try_rc!(c_str(name, "name")).to_owned();
        let value = try_rc!(c_str(value, "value")).to_owned();
        with_builder(builder, |c| c.extra_headers.push((name, value)))
    }
}

/// Largest message accepted from the peer, all fragments together (default 64 MiB; larger ones close with 1009).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_max_message_size(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.max_message_size = value) }
}

/// Largest single frame accepted from the peer; 0 (the default) means the
/// message limit, so any message up to it passes however it is framed.
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_max_frame_size(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.max_frame_size = (value != 0).then_some(value)) }
}

/// Largest upgrade request or response head (default 8 KiB; larger ones get 431).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_max_handshake_bytes(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.max_handshake_bytes = value) }
}

/// Server: most connections at once (default 10,000, lowered to what the OS allows; more get 503).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_max_connections(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.max_connections = value) }
}

/// Messages queued for sending per connection before the overflow policy applies (default 1024).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_send_queue_capacity(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.send_queue_capacity = value) }
}

/// Complete messages buffered per connection for `wse_conn_recv` (default 256).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_recv_queue_capacity(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.recv_queue_capacity = value) }
}

/// Bytes of complete messages buffered per connection before reading stops (default 16 MiB).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_recv_queue_bytes(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.recv_queue_bytes = value) }
}

/// Server: handshaken connections waiting for `wse_server_accept` (default 128; beyond, 503).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_accept_queue_capacity(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.accept_queue_capacity = value) }
}

/// Bytes of messages queued for sending per connection before the overflow policy
/// applies; one larger message is taken when the queue is empty (default 16 MiB).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_send_queue_bytes(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.send_queue_bytes = value) }
}

/// Server in poll mode: bytes of the messages waiting for `wse_server_poll`, all
/// connections together, before connections stop being read (default 64 MiB).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_event_queue_bytes(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.event_queue_bytes = value) }
}

/// Server: connections from one IP address in their opening handshake at once;
/// more are answered 503 (default 128).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_max_handshakes_per_ip(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.max_handshakes_per_ip = value) }
}

/// Server in poll mode: message events waiting for `wse_server_poll` (default 1024).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_event_queue_capacity(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.event_queue_capacity = value) }
}

/// Stack size of each connection thread, at least 64 KiB (default 128 KiB).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_thread_stack_size(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.thread_stack_size = value) }
}

/// Bytes read from the socket at a time, at least 512 (default 16 KiB).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_read_buffer_size(
    builder: *mut wse_config_builder,
    value: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.read_buffer_size = value) }
}

/// Time for the opening handshake (default 10,000 ms).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_INVALID_ARGUMENT` for `WSE_TIMEOUT_INFINITE` (a
/// handshake must end); `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_handshake_timeout_ms(
    builder: *mut wse_config_builder,
    value: u32,
) -> wse_result {
    ffi_boundary! { finite(builder, value, "handshake timeout", |c, d| c.handshake_timeout = d) }
}

/// Client: time to establish the TCP connection (default 10,000 ms).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_INVALID_ARGUMENT` for `WSE_TIMEOUT_INFINITE`;
/// `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_connect_timeout_ms(
    builder: *mut wse_config_builder,
    value: u32,
) -> wse_result {
    ffi_boundary! { finite(builder, value, "connect timeout", |c, d| c.connect_timeout = d) }
}

/// Time the close handshake may take before the socket is dropped (default 5,000 ms).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_INVALID_ARGUMENT` for `WSE_TIMEOUT_INFINITE` (a
/// close must end); `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_close_timeout_ms(
    builder: *mut wse_config_builder,
    value: u32,
) -> wse_result {
    ffi_boundary! { finite(builder, value, "close timeout", |c, d| c.close_timeout = d) }
}

/// Time to wait for an answer to a keepalive ping before dropping the peer;
/// 0 or `WSE_TIMEOUT_INFINITE` keeps pinging but never drops the peer for
/// not answering (default 20,000 ms).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_ping_timeout_ms(
    builder: *mut wse_config_builder,
    value: u32,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.ping_timeout = optional(value)) }
}

/// Send a keepalive ping after this long without traffic; 0 or
/// `WSE_TIMEOUT_INFINITE` turns keepalive off (default 20,000 ms).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_ping_interval_ms(
    builder: *mut wse_config_builder,
    value: u32,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.ping_interval = optional(value)) }
}

/// Close with 1001 after this long without a message either way; 0 or
/// `WSE_TIMEOUT_INFINITE` never does (the default).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_idle_timeout_ms(
    builder: *mut wse_config_builder,
    value: u32,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.idle_timeout = optional(value)) }
}

/// Server: deliver connections, messages and closes as events through `wse_server_poll` instead of `wse_server_accept` and `wse_conn_recv` (default false).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_poll_events(
    builder: *mut wse_config_builder,
    value: bool,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.poll_events = value) }
}

/// Run connection writer and reader threads under Linux's `SCHED_BATCH`
/// policy (default true): a woken thread does not preempt the one
/// running, so bursts are handled and sent whole; when every core is busy
/// a message may wait up to a scheduler tick longer. False keeps the
/// default policy. The application's own threads are never changed.
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_batch_scheduling(
    builder: *mut wse_config_builder,
    value: bool,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.batch_scheduling = value) }
}

/// Server: accept unmasked frames from clients, which RFC 6455 forbids (default false).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Values are
/// checked together by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_accept_unmasked_frames(
    builder: *mut wse_config_builder,
    value: bool,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.accept_unmasked_frames = value) }
}

/// permessage-deflate (RFC 7692) on or off (default on): a server accepts
/// clients' offers, a client makes one. Compressed messages are inflated
/// within the max message size.
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_deflate(
    builder: *mut wse_config_builder,
    enabled: bool,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.deflate.enabled = enabled) }
}

/// permessage-deflate LZ77 windows, as powers of two from 9 (512 bytes) to
/// 15 (32 KiB): the most the server's and the client's compressor may use
/// (default 12 and 12). Below 15, a server asks the client for its value
/// and a client asks the server. Compressor memory per connection is
/// 128 KiB + `4 * 2^bits + 7 * 2^(mem_level+6)` bytes (161 KiB with the
/// defaults) and inflater memory 46 KiB, allocated on first use.
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Ranges are
/// checked by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_deflate_window_bits(
    builder: *mut wse_config_builder,
    server_bits: u8,
    client_bits: u8,
) -> wse_result {
    ffi_boundary! {
        with_builder(builder, |c| {
            c.deflate.server_max_window_bits = server_bits;
            c.deflate.client_max_window_bits = client_bits;
        })
    }
}

/// permessage-deflate without context takeover: `server` makes the server
/// reset its compressor after every message (a server does so and says so;
/// a client asks for it); `client` asks the same of the client (a server
/// requires it; a client offers it). Default false and false: better
/// compression, with the compressor's memory kept between messages.
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_deflate_no_context_takeover(
    builder: *mut wse_config_builder,
    server: bool,
    client: bool,
) -> wse_result {
    ffi_boundary! {
        with_builder(builder, |c| {
            c.deflate.server_no_context_takeover = server;
            c.deflate.client_no_context_takeover = client;
        })
    }
}

/// permessage-deflate compression `level` (0-9, default 6) and zlib
/// `mem_level` (1-9, default 5; the compressor's literal buffers take
/// `7 * 2^(mem_level+6)` bytes).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL. Ranges are
/// checked by `wse_config_builder_build`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_deflate_level(
    builder: *mut wse_config_builder,
    level: u8,
    mem_level: u8,
) -> wse_result {
    ffi_boundary! {
        with_builder(builder, |c| {
            c.deflate.level = level;
            c.deflate.mem_level = mem_level;
        })
    }
}

/// Messages shorter than `bytes` are sent uncompressed even when
/// permessage-deflate was agreed (default 64).
///
/// Ownership: the builder stays the caller's.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER` if `builder` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_deflate_threshold(
    builder: *mut wse_config_builder,
    bytes: usize,
) -> wse_result {
    ffi_boundary! { with_builder(builder, |c| c.deflate.threshold = bytes) }
}
