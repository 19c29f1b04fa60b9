//! Broadcast groups of a server: join, leave, broadcast.

use std::ffi::c_char;

use super::boundary::ffi_boundary;
use super::conn::{binary_message, conn_opt, conn_ref, text_message, wse_conn};
use super::handles::{c_str, null, try_rc};
use super::result::{fail, wse_result};
use super::server::{server_ref, wse_server};
use crate::engine::{Audience, BroadcastReport, Conn, Server};
use crate::protocol::Message;

/// What became of one broadcast: every recipient is counted in exactly one
/// field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct wse_broadcast_report {
    /// Recipients whose send queue took the message.
    pub queued: usize,
    /// Recipients whose send queue was full, so they did not get it
    /// (policy FAIL, or BLOCK once its timeout passed).
    pub dropped: usize,
    /// Recipients closed with 1008 because their queue was full (policy DISCONNECT).
    pub disconnected: usize,
    /// Recipients already closing, skipped.
    pub closed: usize,
}

impl From<BroadcastReport> for wse_broadcast_report {
    fn from(r: BroadcastReport) -> Self {
        wse_broadcast_report {
            queued: r.queued,
            dropped: r.dropped,
            disconnected: r.disconnected,
            closed: r.closed,
        }
    }
}

/// The arguments every membership call takes, checked.
fn membership_args<'a>(
    server: *const wse_server,
    conn: *const wse_conn,
    group: *const c_char,
) -> Result<(&'a Server, &'a Conn, &'a str), wse_result> {
    let server = server_ref(server).ok_or_else(|| null("server"))?;
    let conn = conn_ref(conn)?;
    Ok((server, conn, c_str(group, "group")?))
}

/// Add `conn` (a connection of `server`) to the group named `group`
/// (NUL-terminated, 1 to 1024 bytes), creating the group if needed. Joining
/// twice is not an error. A connection may be in any number of groups and
/// leaves all of them when it closes.
///
/// Ownership: nothing changes hands; `group` is copied.
/// Thread safety: any thread, concurrently with broadcasts and other joins.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`;
/// `WSE_RESULT_INVALID_ARGUMENT` (bad name, or not this server's
/// connection); `WSE_RESULT_CLOSED` if the connection is already torn down.
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_join(
    server: *const wse_server,
    conn: *const wse_conn,
    group: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let (server, conn, group) = try_rc!(membership_args(server, conn, group));
        match server.groups().join(conn, group) {
            Ok(()) => wse_result::Ok,
            Err(e) => fail(&e),
        }
    }
}

/// Remove `conn` from `group`.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_NOT_FOUND` if it was not a member;
/// `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_leave(
    server: *const wse_server,
    conn: *const wse_conn,
    group: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let (server, conn, group) = try_rc!(membership_args(server, conn, group));
        if server.groups().leave(conn, group) { wse_result::Ok } else { wse_result::NotFound }
    }
}

/// Members of `group` right now (0 for an unknown group, NULL arguments or
/// invalid UTF-8).
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread.
/// Errors: none (see above).
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_member_count(
    server: *const wse_server,
    group: *const c_char,
) -> usize {
    ffi_boundary! {
        match (server_ref(server), c_str(group, "group")) {
            (Some(s), Ok(g)) => s.groups().member_count(g),
            _ => 0,
        }
    }
}

fn broadcast(
    server: *const wse_server,
    group: *const c_char,
    except: *const wse_conn,
    message: Result<Message, wse_result>,
    report_out: *mut wse_broadcast_report,
) -> wse_result {
    let Some(server) = server_ref(server) else {
        return null("server");
    };
    let group = if group.is_null() {
        None
    } else {
        Some(try_rc!(c_str(group, "group")))
    };
    let except: Option<&Conn> = conn_opt(except);
    let message = try_rc!(message);
    let audience = match (group, except) {
        (None, None) => Audience::All,
        (None, Some(c)) => Audience::AllExcept(c),
        (Some(g), None) => Audience::Group(g),
        (Some(g), Some(c)) => Audience::GroupExcept(g, c),
    };
    let report = server.groups().broadcast(audience, message);
    if !report_out.is_null() {
        super::handles::write_out(report_out, report.into());
    }
    wse_result::Ok
}

/// Broadcast `len` bytes of UTF-8 text to the members of `group`, or to
/// every connection of the server if `group` is NULL, except `except` if
/// it is not NULL (typically the sender). The frame is encoded once and
/// shared by every recipient; each recipient's overflow policy handles its
/// own full queue, after every other recipient has the message (so under
/// BLOCK a stalled recipient makes this call wait, up to the block
/// timeout). If `report_out` is not NULL it receives what became of each
/// recipient.
///
/// Ownership: `data` is copied once before this returns.
/// Thread safety: any thread; broadcasts from one thread arrive in order.
/// Errors: `WSE_RESULT_NULL_PARAMETER` (`data` may be NULL only when `len`
/// is 0); `WSE_RESULT_INVALID_UTF8`. A group with no members is not an
/// error (the report counts 0 recipients).
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_broadcast_text(
    server: *const wse_server,
    group: *const c_char,
    except: *const wse_conn,
    data: *const c_char,
    len: usize,
    report_out: *mut wse_broadcast_report,
) -> wse_result {
    ffi_boundary! { broadcast(server, group, except, text_message(data, len), report_out) }
}

/// Broadcast `len` bytes of binary data, as `wse_server_broadcast_text`.
///
/// Ownership: `data` is copied once before this returns.
/// Thread safety: any thread.
/// Errors: as `wse_server_broadcast_text`, without `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_broadcast_binary(
    server: *const wse_server,
    group: *const c_char,
    except: *const wse_conn,
    data: *const u8,
    len: usize,
    report_out: *mut wse_broadcast_report,
) -> wse_result {
    ffi_boundary! { broadcast(server, group, except, binary_message(data, len), report_out) }
}
