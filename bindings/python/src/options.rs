//! Keyword options (`connect`, `listen`, `serve`) to a `Config`.

use std::time::Duration;

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use wsengine::{Config, MAX_TIMEOUT, OriginPolicy, OverflowPolicy};

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

/// Build a `Config` from the keyword options of `connect`, `listen` and `serve`.
pub(crate) fn config_from(options: Option<&Bound<'_, PyDict>>) -> PyResult<Config> {
    let mut c = Config::default();
    let Some(options) = options else { return Ok(c) };
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
    c.validate()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(c)
}

/// A route body: str (UTF-8) or bytes-like.
pub(crate) fn body_bytes(body: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(text) = body.extract::<String>() {
        return Ok(text.into_bytes());
    }
    body.extract::<Vec<u8>>()
        .map_err(|_| PyTypeError::new_err("a route body is str or bytes"))
}
