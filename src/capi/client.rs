//! Clients: connect to a `ws://` or `wss://` URL.

use std::ffi::c_char;
use std::sync::Arc;

use super::boundary::ffi_boundary;
use super::config::wse_config;
use super::conn::{CConn, wse_conn};
use super::handles::{borrow, c_str, into_arc, null, try_rc, write_out};
use super::result::{fail, wse_result};
use super::timeout;
use crate::config::Config;

/// Connect to `url` (`ws[s]://host[:port][/path][?query]`) and complete
/// the opening handshake (for `wss://`, TLS first), blocking the calling
/// thread for at most `timeout_ms` for each of the TCP connect and the
/// handshake (`WSE_TIMEOUT_INFINITE`: the config's own connect and
/// handshake timeouts).
///
/// `config` may be NULL for the defaults (for `wss://`: the operating
/// system's trust); subprotocols to offer, extra headers and TLS settings
/// (`wse_config_builder_add_tls_ca_file`, ...) come from it.
///
/// Ownership: on `WSE_RESULT_OK`, `*conn_out` is a new connection owned by
/// the caller; release it with `wse_conn_free`. Otherwise it is unchanged.
/// Thread safety: any thread.
/// The connection goes through the config's proxy
/// (`wse_config_builder_set_proxy`; by default the one the environment's
/// `*_proxy` variables name, honouring `no_proxy`); a host with several
/// addresses is tried address by address, each with its share of the
/// connect timeout.
///
/// Errors: `WSE_RESULT_INVALID_URL`; `WSE_RESULT_IO` (refused,
/// unreachable: the message names each address tried and why it failed);
/// `WSE_RESULT_TIMEOUT`; `WSE_RESULT_PROXY` (the proxy refused: its HTTP
/// status in `wse_last_error_http_status`, 407 for credentials); `WSE_RESULT_TLS_*` (which check
/// failed: unknown issuer, expired, name mismatch, ...; details in
/// `wse_last_error_message`); `WSE_RESULT_HANDSHAKE` (a refusal: see
/// `wse_last_error_http_status`; the message ends with the start of the
/// response body);
/// `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`;
/// `WSE_RESULT_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_client_connect(
    url: *const c_char,
    config: *const wse_config,
    timeout_ms: u32,
    conn_out: *mut *mut wse_conn,
) -> wse_result {
    ffi_boundary! {
        let url = try_rc!(c_str(url, "url"));
        if conn_out.is_null() {
            return null("conn_out");
        }
        let mut config = borrow(config).cloned().unwrap_or_else(Config::default);
        if timeout_ms != u32::MAX {
            let t = timeout(timeout_ms.max(1));
            config.connect_timeout = t;
            config.handshake_timeout = t;
        }
        match crate::engine::connect(url, config) {
            Ok(conn) => {
                write_out(conn_out, into_arc::<wse_conn>(CConn::new(Arc::new(conn))).cast_mut());
                wse_result::Ok
            }
            Err(e) => fail(&e),
        }
    }
}
