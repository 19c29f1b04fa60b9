//! wsengine: a threaded RFC 6455 WebSocket engine over a sans-IO protocol core.
//!
//! Layers, each using only the one below it:
//!
//! - [`protocol`]: frames, masking, the upgrade handshake, message assembly,
//!   UTF-8 and close codes, as pure functions of bytes. No threads, sockets
//!   or clocks; everything there is unit and property tested.
//! - [`engine`] (re-exported at the crate root): [`Server`] and [`connect`]
//!   drive the protocol over `std::net` sockets with one reader thread per
//!   connection and, once a frame has to wait, one writer thread, joined by
//!   bounded channels. A [`Conn`] is
//!   `Send + Sync`: send, receive and close from any thread.
//!
//! ```no_run
//! use wsengine::{Config, Server, Message};
//!
//! let server = Server::bind("127.0.0.1:9001", Config::default())?;
//! while let Ok(conn) = server.accept() {
//!     std::thread::spawn(move || {
//!         while let Ok(msg) = conn.recv() {
//!             if conn.send(msg).is_err() {
//!                 break;
//!             }
//!         }
//!     });
//! }
//! # Ok::<(), wsengine::Error>(())
//! ```

#![deny(missing_docs)]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

/// `with_field(value) -> Self` builder setters for the public fields of a
/// `#[non_exhaustive]` configuration struct.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $field:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, value: $ty) -> Self {
                self.$field = value;
                self
            }
        )*
    };
}

#[cfg(feature = "capi")]
pub mod capi;
pub mod config;
pub mod engine;
pub mod error;
pub mod protocol;
pub mod proxy;
pub mod reconnect;
pub mod tls;

pub use config::{Config, MAX_TIMEOUT, OriginPolicy, OverflowPolicy};
pub use engine::{
    Audience, BroadcastReport, Client, ClientEvent, CloseInfo, CloseInitiator, Conn, ConnData,
    Groups, Handler, PendingUpgrade, RequestInfo, Server, ServerEvent, UpgradeHook, Verdict,
    connect, recycle,
};
pub use error::{Error, Result};
pub use protocol::deflate::{DeflateConfig, DeflateParams};
pub use protocol::http::{Route, Routes};
pub use protocol::{CloseCode, Message};
pub use proxy::{Proxy, ProxyError, ProxyErrorKind};
pub use reconnect::ReconnectPolicy;
pub use tls::{ClientTls, ServerTls, TlsError, TlsErrorKind};
