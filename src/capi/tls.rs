//! TLS from C: a server's certificate and client CA, a client's trust and
//! certificate, reload, and the peer's certificate. Modelled on
//! rustls-ffi's split (a server's certified key and client verifier, a
//! client's roots), folded into the one config builder.

use std::ffi::c_char;

use super::boundary::ffi_boundary;
use super::config::wse_config_builder;
use super::conn::{conn_ref, copy_field, wse_conn};
use super::handles::{borrow_mut, bytes, c_str, copy_bytes, null, try_rc};
use super::result::{fail, set_last_error, wse_result};
use super::server::{server_ref, wse_server};
use crate::config::Config;
use crate::error::Error;
use crate::tls::{ClientCertificates, ClientTls, ServerTls, TlsError};

/// Apply a fallible TLS change to the builder's config.
fn change(
    builder: *mut wse_config_builder,
    apply: impl FnOnce(&mut Config) -> Result<(), TlsError>,
) -> wse_result {
    let Some(config) = borrow_mut(builder) else {
        return null("builder");
    };
    match apply(config) {
        Ok(()) => wse_result::Ok,
        Err(e) => fail(&Error::Tls(e)),
    }
}

/// A client-side change: `ClientTls` setters consume and return.
fn client(
    config: &mut Config,
    f: impl FnOnce(ClientTls) -> Result<ClientTls, TlsError>,
) -> Result<(), TlsError> {
    config.client_tls = f(std::mem::take(&mut config.client_tls))?;
    Ok(())
}

/// Server: serve https and `wss://` with the certificate chain in
/// `cert_file` (PEM, leaf first) and the private key in `key_file` (PEM).
/// The files are read now; `wse_server_reload_tls` reads them again.
///
/// Ownership: the paths are copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_TLS_CONFIG` (unreadable files, no certificate, a
/// key that does not match; details in `wse_last_error_message`);
/// `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_tls_cert_files(
    builder: *mut wse_config_builder,
    cert_file: *const c_char,
    key_file: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let cert = try_rc!(c_str(cert_file, "cert_file"));
        let key = try_rc!(c_str(key_file, "key_file"));
        change(builder, |c| {
            c.server_tls = Some(ServerTls::from_pem_files(cert, key)?);
            Ok(())
        })
    }
}

/// Server: as `wse_config_builder_set_tls_cert_files`, from PEM text in
/// memory (`cert_len` and `key_len` bytes; no terminator needed).
///
/// Ownership: the bytes are copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_TLS_CONFIG`; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_tls_cert_pem(
    builder: *mut wse_config_builder,
    cert: *const u8,
    cert_len: usize,
    key: *const u8,
    key_len: usize,
) -> wse_result {
    ffi_boundary! {
        let cert = try_rc!(bytes(cert, cert_len, "cert"));
        let key = try_rc!(bytes(key, key_len, "key"));
        change(builder, |c| {
            c.server_tls = Some(ServerTls::from_pem(cert, key)?);
            Ok(())
        })
    }
}

/// Server: ask clients for a certificate that chains to a CA in `ca_file`
/// (PEM); with `required`, a client without one fails the TLS handshake.
/// The client's certificate is readable with `wse_conn_peer_certificate`.
/// Call after setting the server's own certificate.
///
/// Ownership: the path is copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_INVALID_ARGUMENT` without a server certificate;
/// `WSE_RESULT_TLS_CONFIG`; `WSE_RESULT_NULL_PARAMETER`;
/// `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_tls_client_ca_file(
    builder: *mut wse_config_builder,
    ca_file: *const c_char,
    required: bool,
) -> wse_result {
    ffi_boundary! {
        let ca = try_rc!(c_str(ca_file, "ca_file"));
        if borrow_mut(builder).is_some_and(|c| c.server_tls.is_none()) {
            set_last_error("set the server's certificate before the client CA", 0);
            return wse_result::InvalidArgument;
        }
        let mode = if required { ClientCertificates::Required } else { ClientCertificates::Optional };
        change(builder, |c| {
            if let Some(tls) = c.server_tls.take() {
                c.server_tls = Some(tls.with_client_ca_file(ca, mode)?);
            }
            Ok(())
        })
    }
}

/// Client: trust the CA certificates in `ca_file` (PEM) for `wss://`,
/// besides the operating system's (see `wse_config_builder_set_tls_system_trust`).
///
/// Ownership: the path is copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_TLS_CONFIG`; `WSE_RESULT_NULL_PARAMETER`;
/// `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_add_tls_ca_file(
    builder: *mut wse_config_builder,
    ca_file: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let ca = try_rc!(c_str(ca_file, "ca_file"));
        change(builder, |c| client(c, |t| t.with_ca_file(ca)))
    }
}

/// Client: as `wse_config_builder_add_tls_ca_file`, from `len` bytes of
/// PEM text in memory.
///
/// Ownership: the bytes are copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_TLS_CONFIG`; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_add_tls_ca_pem(
    builder: *mut wse_config_builder,
    pem: *const u8,
    len: usize,
) -> wse_result {
    ffi_boundary! {
        let pem = try_rc!(bytes(pem, len, "pem"));
        change(builder, |c| client(c, |t| t.with_ca_pem(pem)))
    }
}

/// Client: whether to trust the operating system's roots (default `true`;
/// `false` trusts only the CAs added).
///
/// Ownership: nothing changes hands.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_tls_system_trust(
    builder: *mut wse_config_builder,
    enabled: bool,
) -> wse_result {
    ffi_boundary! { change(builder, |c| client(c, |t| Ok(t.with_system_roots(enabled)))) }
}

/// Client: present the certificate chain in `cert_file` (PEM, leaf first)
/// and the key in `key_file` (PEM) to servers that ask (mutual TLS).
///
/// Ownership: the paths are copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_TLS_CONFIG`; `WSE_RESULT_NULL_PARAMETER`;
/// `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_tls_client_cert_files(
    builder: *mut wse_config_builder,
    cert_file: *const c_char,
    key_file: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let cert = try_rc!(c_str(cert_file, "cert_file"));
        let key = try_rc!(c_str(key_file, "key_file"));
        change(builder, |c| client(c, |t| t.with_client_certificate_files(cert, key)))
    }
}

/// Client: verify the server's certificate against (and send as SNI)
/// `name` instead of the URL's host.
///
/// Ownership: `name` is copied.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`; `WSE_RESULT_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_set_tls_server_name(
    builder: *mut wse_config_builder,
    name: *const c_char,
) -> wse_result {
    ffi_boundary! {
        let name = try_rc!(c_str(name, "name")).to_owned();
        change(builder, |c| client(c, |t| Ok(t.with_server_name(name))))
    }
}

/// Client, **dangerous**: accept any server certificate, so anyone on the
/// path can read and change the traffic. For tests against a throwaway
/// certificate only.
///
/// Ownership: nothing changes hands.
/// Thread safety: the builder must not be used from two threads at once.
/// Errors: `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_config_builder_dangerous_accept_any_certificate(
    builder: *mut wse_config_builder,
) -> wse_result {
    ffi_boundary! { change(builder, |c| client(c, |t| Ok(t.dangerous_accept_any_certificate()))) }
}

/// Read the server's certificate files again and serve what they hold to
/// every handshake from now on; open connections keep going. If the files
/// cannot be used, the certificate served before stays and the error says why.
///
/// Ownership: nothing changes hands.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_TLS_CONFIG` (unreadable or mismatched files, or a
/// certificate given from memory); `WSE_RESULT_INVALID_ARGUMENT` for a
/// server without TLS; `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_server_reload_tls(server: *const wse_server) -> wse_result {
    ffi_boundary! {
        let Some(server) = server_ref(server) else {
            return null("server");
        };
        match server.server_tls() {
            Some(tls) => match tls.reload() {
                Ok(()) => wse_result::Ok,
                Err(e) => fail(&Error::Tls(e)),
            },
            None => {
                set_last_error("this server does not serve TLS", 0);
                wse_result::InvalidArgument
            }
        }
    }
}

/// Copy the peer's TLS certificate (DER; a server's client certificate, or
/// a client's server certificate) into `buf`.
///
/// Ownership: `buf` and `out_n` are the caller's.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_NOT_FOUND` without TLS or when the peer presented
/// none; `WSE_RESULT_BUFFER_TOO_SMALL` (then `*out_n` is the size needed);
/// `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_peer_certificate(
    conn: *const wse_conn,
    buf: *mut u8,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! {
        let conn = try_rc!(conn_ref(conn));
        match conn.request().peer_certificates.first() {
            Some(der) => copy_bytes(der, buf, len, out_n),
            None => wse_result::NotFound,
        }
    }
}

/// Copy the subject of the peer's TLS certificate, as RFC 4514 text (e.g.
/// "CN=alice, O=Example"), into `buf`, NUL-terminated.
///
/// Ownership: `buf` and `out_n` are the caller's.
/// Thread safety: any thread.
/// Errors: `WSE_RESULT_NOT_FOUND` without a peer certificate;
/// `WSE_RESULT_BUFFER_TOO_SMALL` (then `*out_n` is the size needed);
/// `WSE_RESULT_NULL_PARAMETER`.
#[unsafe(no_mangle)]
pub extern "C" fn wse_conn_peer_certificate_subject(
    conn: *const wse_conn,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> wse_result {
    ffi_boundary! {
        copy_field(conn, buf, len, out_n, |c| c.request().peer_certificate_subject().map(Into::into))
    }
}
