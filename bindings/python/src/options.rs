//! Keyword options (`connect`, `listen`, `serve`) to a `Config`.

use std::time::Duration;

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use wsengine::tls::ClientCertificates;
use wsengine::{ClientTls, Config, MAX_TIMEOUT, OriginPolicy, OverflowPolicy, Proxy, ServerTls};

/// `seconds` (not negative, not NaN) as a `Duration`; `OverflowError` past
/// the engine's longest timeout (a year; use `None` for "never").
pub(crate) fn duration(seconds: f64, what: &str) -> PyResult<Duration> {
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if d <= MAX_TIMEOUT => Ok(d),
        _ => Err(PyOverflowError::new_err(format!(
            "{what} of {seconds} s is too large (at most {} s; None means no limit)",
            MAX_TIMEOUT.as_secs()
        ))),
    }
}

pub(crate) fn seconds(value: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(v) if v > 0.0 => duration(v, what).map(Some),
        Some(v) => Err(PyValueError::new_err(format!(
            "{what} must be positive, got {v}"
        ))),
    }
}

/// One value for both sides, or a `(server, client)` pair.
pub(crate) fn pair<'py, T: FromPyObjectOwned<'py> + Copy>(
    value: &Bound<'py, PyAny>,
) -> PyResult<(T, T)> {
    match value.extract::<T>() {
        Ok(both) => Ok((both, both)),
        Err(_) => value.extract(),
    }
}

/// Which end a `Config` is for: the TLS options differ (a server's
/// certificate and client CA; a client's trust and certificate).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// The TLS keyword options, gathered before they are applied.
#[derive(Default)]
struct TlsOptions<'py> {
    ssl: Option<Bound<'py, PyAny>>,
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    client_cert_required: Option<bool>,
    ca: Option<String>,
    system_trust: Option<bool>,
    server_hostname: Option<String>,
    dangerous: bool,
}

/// Build a `Config` from the keyword options of `connect`, `listen` and `serve`.
pub(crate) fn config_from(options: Option<&Bound<'_, PyDict>>, side: Side) -> PyResult<Config> {
    let mut c = Config::default();
    let Some(options) = options else { return Ok(c) };
    let mut tls = TlsOptions::default();
    // Unset, the engine picks by mode: "block" up to 10 s, or "fail" for
    // a server polled for events.
    let mut send_timeout = None;
    let mut overflow: Option<String> = None;
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        match key.as_str() {
            "max_size" => c.max_message_size = value.extract()?,
            "max_frame_size" => c.max_frame_size = value.extract()?,
            "max_connections" => c.max_connections = value.extract()?,
            "send_queue_capacity" => c.send_queue_capacity = value.extract()?,
            "recv_queue_capacity" => c.recv_queue_capacity = value.extract()?,
            "recv_queue_bytes" => c.recv_queue_bytes = value.extract()?,
            "send_queue_bytes" => c.send_queue_bytes = value.extract()?,
            "event_queue_bytes" => c.event_queue_bytes = value.extract()?,
            "max_handshakes_per_ip" => c.max_handshakes_per_ip = value.extract()?,
            "accept_queue_capacity" => c.accept_queue_capacity = value.extract()?,
            "event_queue_capacity" => c.event_queue_capacity = value.extract()?,
            "poll_events" => c.poll_events = value.extract()?,
            "overflow" => overflow = Some(value.extract()?),
            "send_timeout" => send_timeout = Some(seconds(value.extract()?, "send_timeout")?),
            "ping_interval" => c.ping_interval = seconds(value.extract()?, "ping_interval")?,
            "ping_timeout" => c.ping_timeout = seconds(value.extract()?, "ping_timeout")?,
            "close_timeout" => {
                c.close_timeout =
                    seconds(value.extract()?, "close_timeout")?.unwrap_or(Duration::from_secs(5))
            }
            "open_timeout" => {
                let t = seconds(value.extract()?, "open_timeout")?.unwrap_or(MAX_TIMEOUT);
                c.handshake_timeout = t;
                c.connect_timeout = t;
            }
            "idle_timeout" => c.idle_timeout = seconds(value.extract()?, "idle_timeout")?,
            "origins" => {
                c.origins = if value.is_none() {
                    OriginPolicy::SameHost
                } else if value.extract::<String>().is_ok_and(|v| v == "*") {
                    OriginPolicy::AnyOrigin
                } else {
                    OriginPolicy::Allow(value.extract().map_err(|_| {
                        PyTypeError::new_err("origins is a list of origins, \"*\" or None")
                    })?)
                }
            }
            "allowed_hosts" => c.allowed_hosts = value.extract()?,
            // Reconnection (`wsengine.Client`, `connect(reconnect=True)`).
            "reconnect_min_delay" if side == Side::Client => {
                c.reconnect.min_delay = duration(value.extract()?, "reconnect_min_delay")?
            }
            "reconnect_max_delay" if side == Side::Client => {
                c.reconnect.max_delay = duration(value.extract()?, "reconnect_max_delay")?
            }
            "reconnect_factor" if side == Side::Client => c.reconnect.factor = value.extract()?,
            "reconnect_max_attempts" if side == Side::Client => {
                c.reconnect.max_attempts = value.extract()?
            }
            "reconnect_reset_after" if side == Side::Client => {
                c.reconnect.reset_after = duration(value.extract()?, "reconnect_reset_after")?
            }
            "reconnect_seed" if side == Side::Client => c.reconnect.seed = value.extract()?,
            "reconnect_replay" if side == Side::Client => {
                c.reconnect.replay_messages = value.extract()?
            }
            "reconnect_replay_bytes" if side == Side::Client => {
                c.reconnect.replay_bytes = value.extract()?
            }
            "reconnect_close_codes" if side == Side::Client => {
                c.reconnect.retry_close_codes = value.extract()?
            }
            "reconnect_statuses" if side == Side::Client => {
                c.reconnect.retry_statuses = value.extract()?
            }
            // As in `websockets`: True reads the environment, None (or
            // False) connects directly, a string names the proxy.
            "proxy" if side == Side::Client => {
                c.proxy = if value.is_none() {
                    Proxy::Direct
                } else if let Ok(flag) = value.extract::<bool>() {
                    if flag {
                        Proxy::FromEnvironment
                    } else {
                        Proxy::Direct
                    }
                } else {
                    Proxy::Url(value.extract().map_err(|_| {
                        PyTypeError::new_err(
                            "proxy is a proxy URL, True (from the environment) or None",
                        )
                    })?)
                }
            }
            "subprotocols" => {
                c.subprotocols = value.extract::<Option<Vec<String>>>()?.unwrap_or_default()
            }
            "additional_headers" => {
                c.extra_headers = if value.is_none() {
                    Vec::new()
                } else if let Ok(d) = value.cast::<PyDict>() {
                    d.iter()
                        .map(|(k, v)| Ok((k.extract()?, v.extract()?)))
                        .collect::<PyResult<_>>()?
                } else {
                    value.extract()?
                }
            }
            "compression" => {
                c.deflate.enabled = match value.extract::<Option<String>>()?.as_deref() {
                    None => false,
                    Some("deflate") => true,
                    Some(other) => {
                        return Err(PyValueError::new_err(format!(
                            "compression must be 'deflate' or None, not {other:?}"
                        )));
                    }
                }
            }
            "deflate_window_bits" => {
                let (server, client) = pair(&value)?;
                c.deflate.server_max_window_bits = server;
                c.deflate.client_max_window_bits = client;
            }
            "deflate_no_context_takeover" => {
                let (server, client) = pair(&value)?;
                c.deflate.server_no_context_takeover = server;
                c.deflate.client_no_context_takeover = client;
            }
            "deflate_level" => c.deflate.level = value.extract()?,
            "deflate_mem_level" => c.deflate.mem_level = value.extract()?,
            "deflate_threshold" => c.deflate.threshold = value.extract()?,
            "routes" => {
                let routes = value.cast::<PyDict>()?;
                for (path, target) in routes.iter() {
                    let path: String = path.extract()?;
                    if let Ok((content_type, body)) = target.extract::<(String, Bound<'_, PyAny>)>()
                    {
                        c.routes.add(path, content_type, body_bytes(&body)?);
                    } else {
                        let file: std::path::PathBuf = target.extract().map_err(|_| {
                            PyTypeError::new_err(
                                "a route is (content_type, str | bytes) or a path to a file",
                            )
                        })?;
                        c.routes.add_file(path, file);
                    }
                }
            }
            "health_path" => c.routes.health_path = value.extract()?,
            "websocket_paths" => c.routes.websocket_paths = value.extract()?,
            "thread_stack_size" => c.thread_stack_size = value.extract()?,
            "read_buffer_size" => c.read_buffer_size = value.extract()?,
            "batch_scheduling" => c.batch_scheduling = value.extract()?,
            "ssl" => tls.ssl = (!value.is_none()).then_some(value),
            "process_request" if side == Side::Server => {
                c.upgrade_hook = (!value.is_none()).then(|| crate::upgrade::hook(value.unbind()))
            }
            "upgrade_events" if side == Side::Server => c.upgrade_events = value.extract()?,
            "tls_cert" => tls.cert = value.extract()?,
            "tls_key" => tls.key = value.extract()?,
            "tls_client_ca" if side == Side::Server => tls.client_ca = value.extract()?,
            "tls_client_cert_required" if side == Side::Server => {
                tls.client_cert_required = value.extract()?
            }
            "tls_ca" if side == Side::Client => tls.ca = value.extract()?,
            "tls_system_trust" if side == Side::Client => tls.system_trust = value.extract()?,
            "server_hostname" if side == Side::Client => tls.server_hostname = value.extract()?,
            "dangerous_accept_any_certificate" if side == Side::Client => {
                tls.dangerous = value.extract()?
            }
            other => return Err(PyTypeError::new_err(format!("unexpected option {other:?}"))),
        }
    }
    let overflow = match (overflow.as_deref(), send_timeout) {
        (None, None) => None,
        // A send_timeout alone asks for blocking.
        (None | Some("block"), timeout) => Some(OverflowPolicy::Block(
            timeout
                .unwrap_or(Some(Duration::from_secs(10)))
                .unwrap_or(Duration::MAX),
        )),
        (Some("fail"), _) => Some(OverflowPolicy::Fail),
        (Some("disconnect"), _) => Some(OverflowPolicy::Disconnect),
        (Some(other), _) => {
            return Err(PyValueError::new_err(format!(
                "overflow must be 'block', 'fail' or 'disconnect', not {other:?}"
            )));
        }
    };
    c.overflow_policy = overflow;
    match side {
        Side::Server => c.server_tls = server_tls(tls)?,
        Side::Client => c.client_tls = client_tls(tls)?,
    }
    c.validate()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(c)
}

/// A server's TLS settings from `tls_cert`, `tls_key`, `tls_client_ca` and
/// `tls_client_cert_required` (default: required once a CA is given).
fn server_tls(o: TlsOptions<'_>) -> PyResult<Option<ServerTls>> {
    if o.ssl.is_some() {
        // An SSLContext's certificate and key cannot be read back from it,
        // and ignoring it would serve plain text where TLS was asked for.
        return Err(PyTypeError::new_err(
            "a server's certificate cannot be read from an ssl.SSLContext: \
             pass tls_cert= and tls_key= (and tls_client_ca= for client certificates)",
        ));
    }
    let (cert, key) = match (o.cert, o.key) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) if o.client_ca.is_none() => return Ok(None),
        _ => {
            return Err(PyValueError::new_err(
                "TLS needs both tls_cert and tls_key (tls_client_ca needs them too)",
            ));
        }
    };
    let mut tls = ServerTls::from_pem_files(cert, key).map_err(tls_error)?;
    if let Some(ca) = o.client_ca {
        let mode = if o.client_cert_required.unwrap_or(true) {
            ClientCertificates::Required
        } else {
            ClientCertificates::Optional
        };
        tls = tls.with_client_ca_file(ca, mode).map_err(tls_error)?;
    }
    Ok(Some(tls))
}

/// A client's TLS settings for wss:// from `ssl` (True, or an
/// `ssl.SSLContext` whose settings can be honoured exactly), `tls_ca`,
/// `tls_system_trust`, `tls_cert`/`tls_key`, `server_hostname` and
/// `dangerous_accept_any_certificate`.
fn client_tls(o: TlsOptions<'_>) -> PyResult<ClientTls> {
    let mut tls = ClientTls::default();
    if let Some(ssl) = &o.ssl
        && !ssl.extract::<bool>().unwrap_or(false)
    {
        tls = from_ssl_context(ssl, tls)?;
    }
    if let Some(system) = o.system_trust {
        tls = tls.with_system_roots(system);
    }
    if let Some(ca) = o.ca {
        tls = tls.with_ca_file(ca).map_err(tls_error)?;
    }
    match (o.cert, o.key) {
        (Some(cert), Some(key)) => {
            tls = tls
                .with_client_certificate_files(cert, key)
                .map_err(tls_error)?;
        }
        (None, None) => {}
        _ => {
            return Err(PyValueError::new_err(
                "a client certificate needs both tls_cert and tls_key",
            ));
        }
    }
    if let Some(name) = o.server_hostname {
        tls = tls.with_server_name(name);
    }
    if o.dangerous {
        tls = tls.dangerous_accept_any_certificate();
    }
    Ok(tls)
}

/// What of an `ssl.SSLContext` wsengine can honour exactly: verification
/// on (chain and host name together) with its CA certificates, or off
/// entirely; TLS 1.2 and 1.3. Anything else raises `ValueError` rather
/// than being ignored. (A client certificate loaded into the context
/// cannot be read back from it: pass `tls_cert=` and `tls_key=`.)
fn from_ssl_context(ctx: &Bound<'_, PyAny>, tls: ClientTls) -> PyResult<ClientTls> {
    let py = ctx.py();
    let ssl = py.import("ssl")?;
    if !ctx.is_instance(&ssl.getattr("SSLContext")?)? {
        return Err(PyTypeError::new_err(
            "ssl is True, None or an ssl.SSLContext",
        ));
    }
    let unsupported = |why: &str| {
        Err(PyValueError::new_err(format!(
            "ssl: {why} (wsengine cannot honour it)"
        )))
    };
    let verify_mode: i64 = ctx.getattr("verify_mode")?.extract()?;
    let check_hostname: bool = ctx.getattr("check_hostname")?.extract()?;
    let (none, required): (i64, i64) = (
        ssl.getattr("CERT_NONE")?.extract()?,
        ssl.getattr("CERT_REQUIRED")?.extract()?,
    );
    let tls = match (verify_mode, check_hostname) {
        (m, false) if m == none => return Ok(tls.dangerous_accept_any_certificate()),
        (m, true) if m == required => tls,
        (m, false) if m == required => {
            return unsupported(
                "verifying the chain but not the host name; set server_hostname= to the \
                 name on the certificate instead",
            );
        }
        _ => return unsupported("CERT_OPTIONAL verification"),
    };
    let crl: i64 = ssl.getattr("VERIFY_CRL_CHECK_LEAF")?.extract::<i64>()?
        | ssl.getattr("VERIFY_CRL_CHECK_CHAIN")?.extract::<i64>()?;
    if ctx.getattr("verify_flags")?.extract::<i64>()? & crl != 0 {
        return unsupported("certificate revocation list checks");
    }
    let tls12: i64 = ssl.getattr("TLSVersion")?.getattr("TLSv1_2")?.extract()?;
    let maximum: i64 = ctx.getattr("maximum_version")?.extract()?;
    if maximum > 0 && maximum < tls12 {
        return unsupported("a maximum TLS version below 1.2");
    }
    let cas: Vec<Vec<u8>> = ctx.call_method1("get_ca_certs", (true,))?.extract()?;
    if cas.is_empty() {
        Ok(tls)
    } else {
        tls.with_ca_der(cas).map_err(tls_error)
    }
}

/// A TLS settings error as the exception `wsengine.TLSError`.
fn tls_error(e: wsengine::TlsError) -> PyErr {
    crate::errors::to_py(wsengine::Error::Tls(e))
}

/// A route body: str (UTF-8) or bytes-like.
pub(crate) fn body_bytes(body: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(text) = body.extract::<String>() {
        return Ok(text.into_bytes());
    }
    body.extract::<Vec<u8>>()
        .map_err(|_| PyTypeError::new_err("a route body is str or bytes"))
}
