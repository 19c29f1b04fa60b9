//! The C API called from Rust: NULL everywhere, the panic boundary, and
//! a lifecycle over loopback.

use std::ffi::{CStr, CString, c_char};
use std::ptr::{null, null_mut};

use super::boundary::ffi_boundary;
use super::client::*;
use super::config::*;
use super::conn::*;
use super::event::*;
use super::message::*;
use super::result::*;
use super::server::*;

fn last_error() -> String {
    let mut buf = [0 as c_char; 512];
    let mut n = 0;
    assert_eq!(
        wse_last_error_message(buf.as_mut_ptr(), buf.len(), &mut n),
        wse_result::Ok
    );
    // SAFETY: wse_last_error_message NUL-terminates on success.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn null_arguments_are_errors_not_crashes() {
    use wse_result::NullParameter as N;
    let mut conn_out = null_mut();
    let mut server_out = null_mut();
    let mut msg_out = null_mut();
    let mut ev_out = null_mut();
    let mut n = 0usize;
    assert_eq!(wse_server_bind(null(), null(), &mut server_out), N);
    assert!(last_error().contains("addr"), "{}", last_error());
    let addr = CString::new("127.0.0.1:0").unwrap();
    assert_eq!(wse_server_bind(addr.as_ptr(), null(), null_mut()), N);
    assert_eq!(wse_server_accept(null(), 0, &mut conn_out), N);
    assert_eq!(wse_server_poll(null(), 0, &mut ev_out), N);
    assert_eq!(wse_server_shutdown(null()), N);
    assert_eq!(wse_server_local_port(null()), 0);
    assert_eq!(wse_client_connect(null(), null(), 0, &mut conn_out), N);
    assert_eq!(wse_conn_send_text(null(), c"x".as_ptr(), 1), N);
    assert_eq!(wse_conn_send_binary(null(), null(), 0), N);
    assert_eq!(wse_conn_recv(null(), 0, &mut msg_out), N);
    assert_eq!(wse_conn_poll(null(), 0, &mut ev_out), N);
    assert_eq!(wse_conn_close(null(), 1000, null()), N);
    assert_eq!(wse_conn_close_info(null(), null_mut()), N);
    assert_eq!(wse_conn_path(null(), null_mut(), 0, &mut n), N);
    assert!(wse_conn_is_closed(null()));
    assert!(wse_conn_retain(null()).is_null());
    assert_eq!(wse_config_builder_set_max_message_size(null_mut(), 1), N);
    assert_eq!(wse_config_builder_build(null_mut(), &mut null()), N);
    assert_eq!(wse_event_get_kind(null()), wse_event_kind::None);
    assert!(wse_event_conn(null()).is_null());
    assert_eq!(wse_message_get_kind(null()), wse_message_kind::None);
    assert!(wse_message_data(null()).is_null());
    assert_eq!(wse_message_len(null()), 0);
    assert_eq!(wse_last_error_message(null_mut(), 0, null_mut()), N);
    // Every _free accepts NULL.
    wse_conn_free(null_mut());
    wse_server_free(null_mut());
    wse_message_free(null_mut());
    wse_event_free(null_mut());
    wse_config_free(null());
    wse_config_builder_free(null_mut());
    // A bad length with a NULL pointer is an error too.
    assert_eq!(wse_conn_send_binary(null(), null(), 5), N);
    // Out-params are untouched on failure.
    assert!(conn_out.is_null() && server_out.is_null() && msg_out.is_null() && ev_out.is_null());
}

/// Where NULL is allowed (getters that answer 0 or true for it), it is not
/// a failure: the last-error message of an earlier failure stays.
#[test]
fn a_null_that_is_allowed_leaves_the_last_error_alone() {
    let builder = wse_config_builder_new();
    assert_eq!(
        wse_config_builder_set_close_timeout_ms(builder, u32::MAX),
        wse_result::InvalidArgument
    );
    let before = last_error();
    assert!(before.contains("close timeout"), "{before}");
    assert_eq!(wse_conn_id(null()), 0);
    assert!(wse_conn_is_closed(null()));
    assert_eq!(wse_conn_send_queue_len(null()), 0);
    assert_eq!(wse_server_local_port(null()), 0);
    assert_eq!(last_error(), before);
    wse_config_builder_free(builder);
}

#[test]
fn a_panic_inside_becomes_a_result_code() {
    extern "C" fn panics() -> wse_result {
        ffi_boundary! {
            // Unwinds exactly like panic!(), without the hook's message.
            std::panic::resume_unwind(Box::new("deliberate"))
        }
    }
    extern "C" fn panics_ptr() -> *mut wse_conn {
        ffi_boundary! { std::panic::resume_unwind(Box::new("deliberate")) }
    }
    assert_eq!(panics(), wse_result::Panic);
    assert!(last_error().contains("panic"));
    assert!(panics_ptr().is_null());
}

#[test]
fn result_strings_cover_every_code() {
    for code in 0..=14u32 {
        // SAFETY: wse_result_str returns static NUL-terminated strings.
        let s = unsafe { CStr::from_ptr(wse_result_str(code)) }
            .to_str()
            .unwrap();
        assert_ne!(s, "unknown result code", "code {code}");
    }
    // SAFETY: as above.
    let unknown = unsafe { CStr::from_ptr(wse_result_str(999)) };
    assert_eq!(unknown.to_str().unwrap(), "unknown result code");
}

#[test]
fn config_builder_validates_on_build() {
    let b = wse_config_builder_new();
    assert_eq!(
        wse_config_builder_set_max_frame_size(b, 1 << 30),
        wse_result::Ok
    );
    let mut config = null();
    assert_eq!(
        wse_config_builder_build(b, &mut config),
        wse_result::InvalidArgument
    );
    assert!(config.is_null());
    assert!(last_error().contains("max_frame_size"));
    let b = wse_config_builder_new();
    assert_eq!(
        wse_config_builder_set_overflow_policy(b, 7, 0),
        wse_result::InvalidArgument
    );
    assert_eq!(
        wse_config_builder_set_overflow_policy(b, 1, 0),
        wse_result::Ok
    );
    assert_eq!(wse_config_builder_build(b, &mut config), wse_result::Ok);
    assert!(!config.is_null());
    wse_config_free(config);
}

/// One meaning of `WSE_TIMEOUT_INFINITE` everywhere: "no limit". Settings
/// that can be off take it as off; timeouts that must end refuse it
/// (before, it silently meant 49.7 days here and "forever" in calls).
#[test]
fn infinite_means_no_limit_in_every_timeout() {
    const INFINITE: u32 = u32::MAX;
    let b = wse_config_builder_new();
    assert_eq!(
        wse_config_builder_set_close_timeout_ms(b, INFINITE),
        wse_result::InvalidArgument
    );
    assert!(last_error().contains("close timeout"), "{}", last_error());
    assert_eq!(
        wse_config_builder_set_handshake_timeout_ms(b, INFINITE),
        wse_result::InvalidArgument
    );
    assert_eq!(
        wse_config_builder_set_connect_timeout_ms(b, INFINITE),
        wse_result::InvalidArgument
    );
    for set in [
        wse_config_builder_set_ping_interval_ms,
        wse_config_builder_set_ping_timeout_ms,
        wse_config_builder_set_idle_timeout_ms,
    ] {
        assert_eq!(set(b, INFINITE), wse_result::Ok);
    }
    // SAFETY: `b` is a live builder handle made above.
    let config = unsafe { &*b.cast::<crate::Config>() };
    assert_eq!(config.ping_interval, None, "infinite keepalive is off");
    assert_eq!(config.ping_timeout, None);
    assert_eq!(config.idle_timeout, None);
    assert_eq!(
        wse_config_builder_set_close_timeout_ms(b, 1500),
        wse_result::Ok
    );
    // SAFETY: as above; the builder is not freed until `build`.
    let config = unsafe { &*b.cast::<crate::Config>() };
    assert_eq!(config.close_timeout, std::time::Duration::from_millis(1500));
    let mut built = null();
    assert_eq!(wse_config_builder_build(b, &mut built), wse_result::Ok);
    wse_config_free(built);
}

fn text_of(msg: *const wse_message) -> String {
    let len = wse_message_len(msg);
    // SAFETY: the message is alive and its data valid for `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(wse_message_data(msg), len) };
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn lifecycle_over_loopback() {
    let b = wse_config_builder_new();
    wse_config_builder_set_close_timeout_ms(b, 500);
    wse_config_builder_add_subprotocol(b, c"chat".as_ptr());
    let mut config = null();
    assert_eq!(wse_config_builder_build(b, &mut config), wse_result::Ok);
    let mut server = null_mut();
    assert_eq!(
        wse_server_bind(c"127.0.0.1:0".as_ptr(), config, &mut server),
        wse_result::Ok
    );
    let port = wse_server_local_port(server);
    let url = CString::new(format!("ws://127.0.0.1:{port}/path?q=1")).unwrap();
    let mut client = null_mut();
    assert_eq!(
        wse_client_connect(url.as_ptr(), config, 5000, &mut client),
        wse_result::Ok
    );
    wse_config_free(config);
    let mut conn = null_mut();
    assert_eq!(wse_server_accept(server, 5000, &mut conn), wse_result::Ok);

    let mut buf = [0 as c_char; 64];
    let mut n = 0;
    assert_eq!(
        wse_conn_path(conn, buf.as_mut_ptr(), buf.len(), &mut n),
        wse_result::Ok
    );
    assert_eq!(n, 5);
    assert_eq!(
        wse_conn_query(conn, buf.as_mut_ptr(), 1, &mut n),
        wse_result::BufferTooSmall
    );
    assert_eq!(n, 4, "the size needed, with the NUL");
    assert_eq!(
        wse_conn_subprotocol(client, buf.as_mut_ptr(), buf.len(), &mut n),
        wse_result::Ok
    );
    let cstr = |b: &[c_char]| {
        // SAFETY: the getters NUL-terminate on success.
        unsafe { CStr::from_ptr(b.as_ptr()) }
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        wse_conn_header(
            conn,
            c"UPGRADE".as_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut n
        ),
        wse_result::Ok
    );
    assert_eq!((cstr(&buf), n), ("websocket".to_owned(), 9));
    assert_eq!(
        wse_conn_peer_addr(conn, buf.as_mut_ptr(), buf.len(), &mut n),
        wse_result::Ok
    );
    assert!(cstr(&buf).starts_with("127.0.0.1:"), "{}", cstr(&buf));
    assert_eq!(n, cstr(&buf).len());
    assert_eq!(
        wse_conn_header(
            conn,
            c"x-none".as_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut n
        ),
        wse_result::NotFound
    );

    assert_eq!(
        wse_conn_send_text(client, c"hello".as_ptr(), 5),
        wse_result::Ok
    );
    assert_eq!(
        wse_conn_send_text(client, c"\xff".as_ptr(), 1),
        wse_result::InvalidUtf8
    );
    let mut msg = null_mut();
    assert_eq!(wse_conn_recv(conn, 5000, &mut msg), wse_result::Ok);
    assert_eq!(wse_message_get_kind(msg), wse_message_kind::Text);
    assert_eq!(text_of(msg), "hello");
    wse_message_free(msg);
    assert_eq!(wse_conn_recv(conn, 0, &mut msg), wse_result::Timeout);

    // Client-side events: a message, then exactly one close event.
    assert_eq!(
        wse_conn_send_binary(conn, [1u8, 2, 3].as_ptr(), 3),
        wse_result::Ok
    );
    let mut ev = null_mut();
    assert_eq!(wse_conn_poll(client, 5000, &mut ev), wse_result::Ok);
    assert_eq!(wse_event_get_kind(ev), wse_event_kind::Message);
    assert_eq!(wse_message_len(wse_event_message(ev)), 3);
    assert_eq!(wse_event_conn(ev), client.cast_const());
    wse_event_free(ev);

    assert_eq!(wse_conn_close(conn, 1000, c"bye".as_ptr()), wse_result::Ok);
    assert_eq!(wse_conn_close(conn, 1000, null()), wse_result::Closed);
    assert_eq!(
        wse_conn_close(client, 5, null()),
        wse_result::InvalidArgument
    );
    assert_eq!(wse_conn_poll(client, 5000, &mut ev), wse_result::Ok);
    assert_eq!(wse_event_get_kind(ev), wse_event_kind::Closed);
    assert_eq!(wse_event_close_code(ev), 1000);
    assert_eq!(
        wse_event_close_reason(ev, buf.as_mut_ptr(), buf.len(), &mut n),
        wse_result::Ok
    );
    assert_eq!(n, 3);
    wse_event_free(ev);
    assert_eq!(wse_conn_poll(client, 100, &mut ev), wse_result::Closed);
    let mut info = std::mem::MaybeUninit::<wse_close_info>::uninit();
    assert_eq!(
        wse_conn_close_info(client, info.as_mut_ptr()),
        wse_result::Ok
    );
    // SAFETY: written on success.
    let info = unsafe { info.assume_init() };
    assert_eq!(
        (info.code, info.initiator),
        (1000, wse_close_initiator::Peer)
    );
    assert_eq!(
        wse_conn_send_text(conn, c"late".as_ptr(), 4),
        wse_result::Closed
    );

    let extra = wse_conn_retain(conn);
    assert_eq!(extra, conn);
    wse_conn_free(extra);
    wse_conn_free(conn);
    wse_conn_free(client);
    assert_eq!(wse_server_shutdown(server), wse_result::Ok);
    assert_eq!(
        wse_server_accept(server, 0, &mut conn),
        wse_result::ServerShutdown
    );
    wse_server_free(server);
}

#[test]
fn poll_mode_through_the_c_api() {
    let b = wse_config_builder_new();
    wse_config_builder_set_poll_events(b, true);
    let mut config = null();
    assert_eq!(wse_config_builder_build(b, &mut config), wse_result::Ok);
    let mut server = null_mut();
    assert_eq!(
        wse_server_bind(c"127.0.0.1:0".as_ptr(), config, &mut server),
        wse_result::Ok
    );
    wse_config_free(config);
    let url = CString::new(format!("ws://127.0.0.1:{}/", wse_server_local_port(server))).unwrap();
    let mut client = null_mut();
    assert_eq!(
        wse_client_connect(url.as_ptr(), null(), 5000, &mut client),
        wse_result::Ok
    );
    let mut ev = null_mut();
    assert_eq!(wse_server_poll(server, 5000, &mut ev), wse_result::Ok);
    assert_eq!(wse_event_get_kind(ev), wse_event_kind::Open);
    wse_event_free(ev);
    assert_eq!(
        wse_conn_send_text(client, c"ping".as_ptr(), 4),
        wse_result::Ok
    );
    assert_eq!(wse_server_poll(server, 5000, &mut ev), wse_result::Ok);
    assert_eq!(wse_event_get_kind(ev), wse_event_kind::Message);
    let msg = wse_event_message(ev);
    assert_eq!(
        wse_conn_send_text(
            wse_event_conn(ev),
            wse_message_data(msg).cast(),
            wse_message_len(msg)
        ),
        wse_result::Ok
    );
    wse_event_free(ev);
    let mut reply = null_mut();
    assert_eq!(wse_conn_recv(client, 5000, &mut reply), wse_result::Ok);
    assert_eq!(text_of(reply), "ping");
    wse_message_free(reply);
    wse_conn_free(client);
    assert_eq!(wse_server_poll(server, 5000, &mut ev), wse_result::Ok);
    assert_eq!(wse_event_get_kind(ev), wse_event_kind::Closed);
    assert!(wse_event_close_clean(ev));
    wse_event_free(ev);
    assert_eq!(wse_server_poll(server, 0, &mut ev), wse_result::Timeout);
    let mut conn = null_mut();
    assert_eq!(
        wse_server_accept(server, 0, &mut conn),
        wse_result::InvalidArgument
    );
    wse_server_free(server);
}
