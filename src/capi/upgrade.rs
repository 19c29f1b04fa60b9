//! The application's say before the 101, from C: a callback on the
//! connection's thread, or an upgrade-request event in poll mode. Both hand
//! the application one `wse_upgrade` to read the request from and answer.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use parking_lot::Mutex;

use super::boundary::ffi_boundary;
use super::config::wse_config_builder;
use super::handles::{
    Handle, Shared, borrow, borrow_mut, bytes, c_str, copy_bytes, copy_str, try_rc,
};
use super::result::{set_last_error, wse_result};
use crate::engine::{PendingUpgrade, RequestInfo, UpgradeHook, Verdict};

/// An upgrade request waiting for the application's answer: read it with
/// `wse_upgrade_path`, `_query`, `_query_param`, `_header`, `_cookie`,
/// `_peer_addr`, `_peer_certificate`; answer it once with
/// `wse_upgrade_accept` or `wse_upgrade_refuse` (after any
/// `wse_upgrade_add_header`).
///
/// It is lent to an upgrade callback for the duration of the call (see
/// `wse_config_builder_set_upgrade_callback`), or by a
/// `WSE_EVENT_KIND_UPGRADE_REQUEST` event until the event is freed (see
/// `wse_event_upgrade`). Never freed by the caller.
pub struct wse_upgrade {
    _private: [u8; 0],
}

impl Handle for wse_upgrade {
    type Rust = CUpgrade;
    type Ownership = Shared;
}

/// What a `wse_upgrade` points at.
pub(crate) struct CUpgrade {
    request: RequestInfo,
    state: Mutex<Answer>,
}

struct Answer {
    headers: Vec<(String, String)>,
    /// The answer, once given (callback mode: taken when the callback
    /// returns; event mode: sent already, kept to refuse a second answer).
    verdict: Option<Verdict>,
    /// Poll mode: where the answer goes, until it is given.
    pending: Option<PendingUpgrade>,
}

/// The `void *` a C application attached to a connection it accepted
/// (read back with `wse_conn_user_data`).
pub(crate) struct CUserData(pub(crate) usize);

impl CUpgrade {
    /// For an upgrade-request event.
    pub(crate) fn pending(pending: PendingUpgrade) -> CUpgrade {
        CUpgrade {
            request: pending.request().clone(),
            state: Mutex::new(Answer {
                headers: Vec::new(),
                verdict: None,
                pending: Some(pending),
            }),
        }
    }

    /// Record (callback) or send (event) the answer, if it can be sent.
    fn answer(&self, build: impl FnOnce(Vec<(String, String)>) -> Verdict) -> wse_result {
        let mut state = self.state.lock();
        if state.verdict.is_some() {
            set_last_error("this upgrade was answered already", 0);
            return wse_result::InvalidArgument;
        }
        let verdict = build(state.headers.clone());
        if let Err(why) = verdict.check_for(&self.request) {
            set_last_error(&why, 0);
            return wse_result::InvalidArgument;
        }
        if let Some(pending) = state.pending.take() {
            pending.answer(verdict.clone());
        }
        state.verdict = Some(verdict);
        wse_result::Ok
    }
}

/// Called for each valid upgrade request, on the connection's own thread
/// (never under a library lock), before the `101`. It must answer `upgrade`
/// with `wse_upgrade_accept` or `wse_upgrade_refuse` before it returns (no
/// answer refuses with 500). `upgrade` is valid only during the call.
/// `user_data` is the pointer given with the callback: it is used from many
/// threads at once, so what it points at must allow that.
pub type wse_upgrade_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, upgrade: *mut wse_upgrade)>;

/// Server: decide each valid upgrade request with `callback` before the
/// `101` (accept, perhaps with a subprotocol, headers and a `void *`
/// attached to the connection; or refuse with any status and body). The
/// callback runs on the connection's thread and must return within the
/// handshake timeout: at the deadline the client's socket is cut and the
/// late answer discarded. NULL removes the callback.
///
/// Ownership: `user_data` stays the caller's; it must stay valid as long
/// as a server built from this configuration runs.
/// Thread safety: the builder must not be used from two threads at once;
/// the callback is called from many threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_upgrade_callback(
    builder: *mut wse_config_builder,
    callback: wse_upgrade_fn,
    user_data: *mut c_void,
) -> wse_result {
    ffi_boundary! {
        let Some(config) = borrow_mut(builder) else {
            return super::handles::null("builder");
        };
        // The address as a number: the pointer itself is not `Send`, but
        // the caller promised it may be used from any thread.
        let user_data = user_data as usize;
        config.upgrade_hook = callback.map(|callback| {
            UpgradeHook::new(move |request: &RequestInfo| {
                let upgrade = CUpgrade {
                    request: request.clone(),
                    state: Mutex::new(Answer { headers: Vec::new(), verdict: None, pending: None }),
                };
                let ptr = std::ptr::from_ref(&upgrade).cast_mut().cast::<wse_upgrade>();
                // SAFETY: the callback's contract (header): it may be called
                // with its own `user_data` and an upgrade valid for the call.
                unsafe { callback(user_data as *mut c_void, ptr) };
                upgrade.state.into_inner().verdict.unwrap_or_else(|| {
                    Verdict::refuse(500, "the upgrade callback gave no answer")
                })
            })
        });
        wse_result::Ok
    }
}

/// Server in poll mode: deliver each valid upgrade request as a
/// `WSE_EVENT_KIND_UPGRADE_REQUEST` event, to answer from the loop's
/// thread with `wse_event_upgrade` within the handshake timeout (an event
/// freed unanswered, or answered too late, refuses with 503). Needs
/// `wse_config_builder_set_poll_events`; not with an upgrade callback.
///
/// Ownership: nothing changes hands.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_upgrade_events(
    builder: *mut wse_config_builder,
    enabled: bool,
) -> wse_result {
    ffi_boundary! {
        match borrow_mut(builder) {
            Some(config) => {
                config.upgrade_events = enabled;
                wse_result::Ok
            }
            None => super::handles::null("builder"),
        }
    }
}

fn upgrade_ref<'a>(upgrade: *const wse_upgrade) -> Result<&'a CUpgrade, wse_result> {
    borrow(upgrade).ok_or_else(|| super::handles::null("upgrade"))
}

/// Copy one field of the request, or `WSE_RESULT_NOT_FOUND`.
fn copy_field(
    upgrade: *const wse_upgrade,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
    field: impl FnOnce(&RequestInfo) -> Option<String>,
) -> wse_result {
    let upgrade = try_rc!(upgrade_ref(upgrade));
    match field(&upgrade.request) {
        Some(text) => copy_str(&text, buf, len, out_n),
        None => wse_result::NotFound,
    }
}

/// Copy the request path (without the query) into `buf`, NUL-terminated.
///
/// Ownership: `buf` and `out_n` are the caller's.
/// Thread safety: any thread, while `upgrade` is lent.
/// Errors: `WSE_RESULT_BUFFER_TOO_SMALL` (then `*out_n` is the size
/// needed); `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_upgrade_path(
    upgrade: *const wse_upgrade,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! { copy_field(upgrade, buf, len, out_n, |r| Some(r.path.clone())) }
}

/// Copy the query string (without `?`) into `buf`, NUL-terminated.
///
/// Ownership: `buf` and `out_n` are the caller's.
/// Thread safety: any thread, while `upgrade` is lent.
/// Errors: `WSE_RESULT_NOT_FOUND` without a query;
/// `WSE_RESULT_BUFFER_TOO_SMALL`; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_upgrade_query(
    upgrade: *const wse_upgrade,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! { copy_field(upgrade, buf, len, out_n, |r| r.query.clone()) }
}

/// Copy the value of the query parameter `name` (as sent, not
/// percent-decoded) into `buf`, NUL-terminated.
///
/// Ownership: `buf` and `out_n` are the caller's; `name` is only read.
/// Thread safety: any thread, while `upgrade` is lent.
/// Errors: `WSE_RESULT_NOT_FOUND`; `WSE_RESULT_BUFFER_TOO_SMALL`;
/// `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8` for `name`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_upgrade_query_param(
    upgrade: *const wse_upgrade,
    name: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! {
        let name = try_rc!(c_str(name, "name"));
        copy_field(upgrade, buf, len, out_n, |r| r.query_param(name).map(str::to_owned))
    }
}

/// Copy the value of the first request header called `name`
/// (case-insensitive) into `buf`, NUL-terminated.
///
/// Ownership: `buf` and `out_n` are the caller's; `name` is only read.
/// Thread safety: any thread, while `upgrade` is lent.
/// Errors: `WSE_RESULT_NOT_FOUND`; `WSE_RESULT_BUFFER_TOO_SMALL`;
/// `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8` for `name`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_upgrade_header(
    upgrade: *const wse_upgrade,
    name: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! {
        let name = try_rc!(c_str(name, "name"));
        copy_field(upgrade, buf, len, out_n, |r| r.header(name).map(str::to_owned))
    }
}

/// Copy the value of the cookie `name` (from the `Cookie` headers) into
/// `buf`, NUL-terminated.
///
/// Ownership: `buf` and `out_n` are the caller's; `name` is only read.
/// Thread safety: any thread, while `upgrade` is lent.
/// Errors: `WSE_RESULT_NOT_FOUND`; `WSE_RESULT_BUFFER_TOO_SMALL`;
/// `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8` for `name`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_upgrade_cookie(
    upgrade: *const wse_upgrade,
    name: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! {
        let name = try_rc!(c_str(name, "name"));
        copy_field(upgrade, buf, len, out_n, |r| r.cookie(name).map(str::to_owned))
    }
}

/// Copy the client's address (`192.0.2.1:54321`, `[::1]:54321`) into
/// `buf`, NUL-terminated.
///
/// Ownership: `buf` and `out_n` are the caller's.
/// Thread safety: any thread, while `upgrade` is lent.
/// Errors: `WSE_RESULT_BUFFER_TOO_SMALL`; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_upgrade_peer_addr(
    upgrade: *const wse_upgrade,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! { copy_field(upgrade, buf, len, out_n, |r| Some(r.peer_addr.to_string())) }
}

/// Copy the client's TLS certificate (DER) into `buf`.
///
/// Ownership: `buf` and `out_n` are the caller's.
/// Thread safety: any thread, while `upgrade` is lent.
/// Errors: `WSE_RESULT_NOT_FOUND` without TLS or when the client presented
/// none; `WSE_RESULT_BUFFER_TOO_SMALL` (then `*out_n` is the size needed);
/// `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_upgrade_peer_certificate(
    upgrade: *const wse_upgrade,
    buf: *mut u8,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! {
        let upgrade = try_rc!(upgrade_ref(upgrade));
        match upgrade.request.peer_certificates.first() {
            Some(der) => copy_bytes(der, buf, len, out_n),
            None => wse_result::NotFound,
        }
    }
}

/// Copy the subject of the client's TLS certificate, as RFC 4514 text
/// (e.g. "CN=alice"), into `buf`, NUL-terminated.
///
/// Ownership: `buf` and `out_n` are the caller's.
/// Thread safety: any thread, while `upgrade` is lent.
/// Errors: `WSE_RESULT_NOT_FOUND` without a client certificate;
/// `WSE_RESULT_BUFFER_TOO_SMALL`; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_upgrade_peer_certificate_subject(
    upgrade: *const wse_upgrade,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! { copy_field(upgrade, buf, len, out_n, RequestInfo::peer_certificate_subject) }
}

/// Add a header line to the answer (to the `101`, or to the refusal).
/// Call before `wse_upgrade_accept` or `wse_upgrade_refuse`.
///
/// Ownership: `name` and `value` are copied.
/// Thread safety: one thread at a time per upgrade.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`;
/// `WSE_RESULT_INVALID_ARGUMENT` once the upgrade is answered (a bad name
/// or value is reported by the answer).
#[unsafe(no_mangle)]
pub extern "C" fn wse_upgrade_add_header(
    upgrade: *mut wse_upgrade,
    name: *const c_char,
    value: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let upgrade = try_rc!(upgrade_ref(upgrade));
        let name = try_rc!(c_str(name, "name")).to_owned();
        let value = try_rc!(c_str(value, "value")).to_owned();
        let mut state = upgrade.state.lock();
        if state.verdict.is_some() {
            set_last_error("this upgrade was answered already", 0);
            return wse_result::InvalidArgument;
        }
        state.headers.push((name, value));
        wse_result::Ok
    }
}

/// Accept the upgrade: answer `101` with `subprotocol` (one the client
/// offered; NULL keeps the server's own choice) and the headers added, and
/// attach `user_data` to the connection (`wse_conn_user_data`).
///
/// Ownership: `subprotocol` is copied; `user_data` stays the caller's.
/// Thread safety: one thread at a time per upgrade.
/// Errors: `WSE_RESULT_INVALID_ARGUMENT` (answered already, a subprotocol
/// not offered, a bad header; the upgrade stays unanswered);
/// `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_upgrade_accept(
    upgrade: *mut wse_upgrade,
    subprotocol: *const c_char,
    user_data: *mut c_void,
) -> wse_result {
    ffi_boundary! {
        let upgrade = try_rc!(upgrade_ref(upgrade));
        let subprotocol = if subprotocol.is_null() {
            None
        } else {
            Some(try_rc!(c_str(subprotocol, "subprotocol")).to_owned())
        };
        let data = (!user_data.is_null()).then(|| {
            Arc::new(CUserData(user_data as usize)) as crate::engine::ConnData
        });
        upgrade.answer(|headers| Verdict::Accept { subprotocol, headers, data })
    }
}

/// Refuse the upgrade: answer with `status` (300-599), the headers added
/// (e.g. `WWW-Authenticate`, `Retry-After`), and `len` bytes of `body`
/// (plain text unless a `Content-Type` header was added), then close.
///
/// Ownership: `body` is copied.
/// Thread safety: one thread at a time per upgrade.
/// Errors: `WSE_RESULT_INVALID_ARGUMENT` (answered already, a status out
/// of range, a bad header; the upgrade stays unanswered);
/// `WSE_RESULT_NULL_PARAMETER` (`body` may be NULL when `len` is 0).
#[unsafe(no_mangle)]
pub extern "C" fn wse_upgrade_refuse(
    upgrade: *mut wse_upgrade,
    status: u16,
    body: *const u8,
    len: usize,
) -> wse_result {
    ffi_boundary! {
        let upgrade = try_rc!(upgrade_ref(upgrade));
        let body = try_rc!(bytes(body, len, "body")).to_vec();
        upgrade.answer(|headers| Verdict::Refuse { status, headers, body })
    }
}

/// The `void *` given to `wse_upgrade_accept` for this connection, or NULL.
///
/// Ownership: what it points at is the caller's, as it was.
/// Thread safety: any thread.
/// Errors: none (NULL for a NULL connection or none attached).
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_user_data(conn: *const super::conn::wse_conn) -> *mut c_void {
    ffi_boundary! {
        super::conn::conn_opt(conn)
            .and_then(|c| c.data::<CUserData>())
            .map_or(std::ptr::null_mut(), |d| d.0 as *mut c_void)
    }
}
