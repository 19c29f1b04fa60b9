//! TLS for `wss://` clients and https/wss servers, on rustls.
//!
//! A server is given a [`ServerTls`] (its certificate chain and key, and
//! optionally the CA its clients' certificates must chain to) in
//! [`Config::server_tls`](crate::Config::server_tls); a client connecting to a
//! `wss://` URL uses [`Config::client_tls`](crate::Config::client_tls), which
//! by default trusts what the operating system trusts.
//!
//! Choices, and why:
//! - **Crypto provider: *ring*.** It builds with nothing but a C compiler
//!   (aws-lc-rs needs CMake, and on some targets NASM or Go, on a fresh
//!   machine), and for what a WebSocket server spends its time on (AES-GCM
//!   and ChaCha20-Poly1305 bulk encryption, P-256 and X25519 key exchange,
//!   ECDSA P-256 signatures) the two are within a few percent of each other.
//! - **Trust: rustls-platform-verifier.** On Windows, macOS, iOS and Android
//!   it hands the chain to the operating system's own verifier, so
//!   enterprise roots, user-installed roots and revocation work as in the
//!   platform's browsers; on Linux and the BSDs it loads the system bundle
//!   through rustls-native-certs (which honours `SSL_CERT_FILE` and
//!   `SSL_CERT_DIR`) and verifies with webpki. rustls-native-certs alone
//!   would load roots on every OS but verify with webpki everywhere,
//!   ignoring platform policy.
//! - **ALPN `http/1.1`** both ways: a WebSocket handshake is an HTTP/1.1
//!   request, and a browser on an https page offers `h2` first.
//!
//! Both types are cheap to clone (the parsed state is shared) and may be
//! used from any thread. A `ServerTls` equals only its own clones (they
//! share the certificate that `reload` swaps); `ClientTls` values compare
//! by what they trust and present.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// What a TLS failure was, so that a program can tell a certificate it
/// should not trust from a network that spoke something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The peer's certificate does not chain to a trusted root.
    UnknownIssuer,
    /// The peer's certificate (or one in its chain) has expired.
    Expired,
    /// The peer's certificate is not valid yet.
    NotYetValid,
    /// The server's certificate is not valid for the name (or address)
    /// connected to.
    NameMismatch,
    /// The peer's certificate is unusable for another reason (bad
    /// signature or encoding, revoked, wrong purpose, unsupported algorithm).
    BadCertificate,
    /// Client: the server refused our client certificate, or wanted one and
    /// got none. Server: the client presented none where one is required.
    ClientCertificateRejected,
    /// The peer does not speak TLS (a plain HTTP server on the port, say).
    NotTls,
    /// The TLS handshake failed otherwise (no common version or cipher
    /// suite, an alert from the peer, a malformed message).
    Handshake,
    /// Our own TLS settings are unusable: a certificate or key file that
    /// cannot be read or parsed, a key that does not match its certificate,
    /// no trusted roots at all.
    Config,
}

/// A TLS failure: its [`TlsErrorKind`] and a readable description of
/// what exactly went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsError {
    /// What kind of failure it was.
    pub kind: TlsErrorKind,
    /// The details, for a log or an error message.
    pub message: String,
}

impl TlsError {
    pub(crate) fn config(message: impl Into<String>) -> TlsError {
        TlsError {
            kind: TlsErrorKind::Config,
            message: message.into(),
        }
    }

    /// Classify an error reported by rustls.
    pub(crate) fn from_rustls(e: &rustls::Error) -> TlsError {
        use rustls::AlertDescription as A;
        use rustls::CertificateError as C;
        let kind = match e {
            rustls::Error::InvalidCertificate(c) => match c {
                C::UnknownIssuer => TlsErrorKind::UnknownIssuer,
                C::Expired | C::ExpiredContext { .. } => TlsErrorKind::Expired,
                C::NotValidYet | C::NotValidYetContext { .. } => TlsErrorKind::NotYetValid,
                C::NotValidForName | C::NotValidForNameContext { .. } => TlsErrorKind::NameMismatch,
                _ => TlsErrorKind::BadCertificate,
            },
            rustls::Error::NoCertificatesPresented => TlsErrorKind::ClientCertificateRejected,
            rustls::Error::AlertReceived(
                A::BadCertificate
                | A::UnknownCA
                | A::CertificateRequired
                | A::CertificateUnknown
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::UnsupportedCertificate
                | A::AccessDenied,
            ) => TlsErrorKind::ClientCertificateRejected,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                TlsErrorKind::NotTls
            }
            _ => TlsErrorKind::Handshake,
        };
        TlsError {
            kind,
            message: e.to_string(),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TlsErrorKind::UnknownIssuer => "certificate from an unknown issuer",
            TlsErrorKind::Expired => "certificate expired",
            TlsErrorKind::NotYetValid => "certificate not valid yet",
            TlsErrorKind::NameMismatch => "certificate not valid for this name",
            TlsErrorKind::BadCertificate => "bad certificate",
            TlsErrorKind::ClientCertificateRejected => "client certificate rejected or missing",
            TlsErrorKind::NotTls => "the peer does not speak TLS",
            TlsErrorKind::Handshake => "TLS handshake failed",
            TlsErrorKind::Config => "TLS configuration",
        };
        write!(f, "{what}: {}", self.message)
    }
}

impl std::error::Error for TlsError {}

/// The crypto provider every TLS session of this library uses (*ring*).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// The ALPN protocol both sides name.
const ALPN_HTTP11: &[u8] = b"http/1.1";

fn read_file(what: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|e| TlsError::config(format!("cannot read {what} {}: {e}", path.display())))
}

/// Every certificate in PEM text (other PEM sections are skipped).
fn certificates(what: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::config(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::config(format!(
            "{what}: no \"BEGIN CERTIFICATE\" section"
        )));
    }
    Ok(certs)
}

/// A certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or
/// SEC1 PEM), checked to belong together.
fn certified_key(chain_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, TlsError> {
    let chain = certificates("certificate chain", chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::config(format!("private key: {e}")))?;
    CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| TlsError::config(format!("certificate and key: {e}")))
}

fn root_store(what: &str, certs: &[CertificateDer<'static>]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert.clone())
            .map_err(|e| TlsError::config(format!("{what}: {e}")))?;
    }
    Ok(roots)
}

/// Whether a server asks its clients for a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientCertificates {
    /// Clients may present one; if they do it must chain to the CA.
    Optional,
    /// Clients must present one that chains to the CA, or the TLS
    /// handshake fails.
    Required,
}

/// The server's certificate, swapped atomically on reload.
#[derive(Debug)]
struct CurrentKey(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentKey {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.read()))
    }
}

/// A server's TLS settings: its certificate chain and key, and whether and
/// how clients must prove who they are.
///
/// [`reload`](Self::reload) (or [`replace_pem`](Self::replace_pem)) swaps
/// the certificate while the server runs: handshakes that start afterwards
/// get the new one, open connections are not touched, and a certificate
/// that cannot be used leaves the old one in place and says why. Clones
/// share the certificate, so reloading through any clone (the one given to
/// [`Server::bind`](crate::Server::bind) in a [`Config`](crate::Config), or
/// one kept by the application) affects them all.
///
/// ```no_run
/// let tls = wsengine::tls::ServerTls::from_pem_files("cert.pem", "key.pem")?;
/// let config = wsengine::Config::default().with_server_tls(Some(tls.clone()));
/// let server = wsengine::Server::bind("0.0.0.0:443", config)?;
/// // Later, after the files were renewed:
/// tls.reload()?;
/// # Ok::<(), wsengine::Error>(())
/// ```
#[derive(Clone)]
pub struct ServerTls {
    current: Arc<CurrentKey>,
    /// The files it was made from, for `reload`.
    files: Option<Arc<(PathBuf, PathBuf)>>,
    config: Arc<ServerConfig>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl PartialEq for ServerTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for ServerTls {}

impl ServerTls {
    /// Read the certificate chain (PEM, leaf first, then intermediates) and
    /// its private key (PEM: PKCS#8, PKCS#1 or SEC1) from files.
    /// [`reload`](Self::reload) reads the same files again.
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`] if a file cannot be read or parsed, or the
    /// key does not belong to the certificate.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ServerTls, TlsError> {
        let (cert_chain, key) = (cert_chain.as_ref(), key.as_ref());
        let loaded = certified_key(
            &read_file("certificate chain", cert_chain)?,
            &read_file("private key", key)?,
        )?;
        let mut tls = ServerTls::with_key(loaded, None)?;
        tls.files = Some(Arc::new((cert_chain.to_owned(), key.to_owned())));
        Ok(tls)
    }

    /// The certificate chain and key from PEM text in memory.
    ///
    /// # Errors
    /// As [`from_pem_files`](Self::from_pem_files).
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<ServerTls, TlsError> {
        ServerTls::with_key(certified_key(cert_chain, key)?, None)
    }

    fn with_key(
        key: CertifiedKey,
        clients: Option<(RootCertStore, ClientCertificates)>,
    ) -> Result<ServerTls, TlsError> {
        let current = Arc::new(CurrentKey(RwLock::new(Arc::new(key))));
        let config = server_config(&current, clients)?;
        Ok(ServerTls {
            current,
            files: None,
            config,
        })
    }

    /// Ask clients for a certificate that chains to one of the CA
    /// certificates in `ca_pem` (PEM text), optionally or as a requirement.
    /// The certificate a client presented is in
    /// [`RequestInfo::peer_certificates`](crate::RequestInfo::peer_certificates).
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`] if `ca_pem` holds no usable certificate.
    pub fn with_client_ca_pem(
        self,
        ca_pem: &[u8],
        mode: ClientCertificates,
    ) -> Result<ServerTls, TlsError> {
        let roots = root_store("client CA", &certificates("client CA", ca_pem)?)?;
        let config = server_config(&self.current, Some((roots, mode)))?;
        Ok(ServerTls { config, ..self })
    }

    /// [`with_client_ca_pem`](Self::with_client_ca_pem) from a file.
    ///
    /// # Errors
    /// As `with_client_ca_pem`, or if the file cannot be read.
    pub fn with_client_ca_file(
        self,
        ca: impl AsRef<Path>,
        mode: ClientCertificates,
    ) -> Result<ServerTls, TlsError> {
        let pem = read_file("client CA", ca.as_ref())?;
        self.with_client_ca_pem(&pem, mode)
    }

    /// Read the files this was made from again and serve the certificate
    /// they now hold to every handshake that starts from now on. Open
    /// connections keep going. May be called from any thread.
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`] if this was made from memory, or the files
    /// cannot be read or do not hold a matching certificate and key; the
    /// certificate served before stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let Some(files) = &self.files else {
            return Err(TlsError::config(
                "made from memory: nothing to reload from (use replace_pem)",
            ));
        };
        let (chain, key) = (&files.0, &files.1);
        let loaded = certified_key(
            &read_file("certificate chain", chain)?,
            &read_file("private key", key)?,
        )?;
        *self.current.0.write() = Arc::new(loaded);
        Ok(())
    }

    /// Serve this certificate chain and key (PEM text) to every handshake
    /// that starts from now on, as [`reload`](Self::reload) does.
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem); the certificate served before stays
    /// in use.
    pub fn replace_pem(&self, cert_chain: &[u8], key: &[u8]) -> Result<(), TlsError> {
        let loaded = certified_key(cert_chain, key)?;
        *self.current.0.write() = Arc::new(loaded);
        Ok(())
    }

    /// The DER encoding of the certificate served now (the leaf).
    pub fn certificate_der(&self) -> Vec<u8> {
        self.current
            .0
            .read()
            .cert
            .first()
            .map(|c| c.to_vec())
            .unwrap_or_default()
    }

    pub(crate) fn rustls_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }
}

fn server_config(
    current: &Arc<CurrentKey>,
    clients: Option<(RootCertStore, ClientCertificates)>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::config(e.to_string()))?;
    let builder = match clients {
        None => builder.with_no_client_auth(),
        Some((roots, mode)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = match mode {
                ClientCertificates::Optional => verifier.allow_unauthenticated(),
                ClientCertificates::Required => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::config(format!("client CA: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::clone(current) as Arc<dyn ResolvesServerCert>);
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// Which certificate authorities a client trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Trust {
    /// The operating system's (see the module docs).
    System,
    /// The operating system's and these.
    SystemAnd(Vec<CertificateDer<'static>>),
    /// Only these.
    Only(Vec<CertificateDer<'static>>),
    /// Nothing is verified.
    Nothing,
}

/// A client's TLS settings for `wss://` URLs: whom to trust, an optional
/// client certificate, and the name to verify.
///
/// The default trusts what the operating system trusts and verifies the
/// server's certificate against the URL's host. Setters return a new value
/// (the rustls configuration is built once per value, on the first
/// connection, and shared by its clones).
///
/// ```no_run
/// use wsengine::tls::ClientTls;
/// let tls = ClientTls::default().with_ca_file("my-ca.pem")?;
/// let config = wsengine::Config::default().with_client_tls(tls);
/// let conn = wsengine::connect("wss://example.test/chat", config)?;
/// # Ok::<(), wsengine::Error>(())
/// ```
#[derive(Clone)]
pub struct ClientTls {
    trust: Trust,
    identity: Option<Arc<CertifiedKey>>,
    server_name: Option<String>,
    built: Arc<OnceLock<Result<Arc<ClientConfig>, TlsError>>>,
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls {
            trust: Trust::System,
            identity: None,
            server_name: None,
            built: Arc::default(),
        }
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let trust = match &self.trust {
            Trust::System => "system".to_owned(),
            Trust::SystemAnd(c) => format!("system and {} more", c.len()),
            Trust::Only(c) => format!("only {} given", c.len()),
            Trust::Nothing => "NOTHING VERIFIED".to_owned(),
        };
        f.debug_struct("ClientTls")
            .field("trust", &trust)
            .field("client_certificate", &self.identity.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// Equal when they trust the same certificates, verify the same name and
/// present the same client certificate (the same loaded key, not an equal
/// one loaded twice).
impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        self.trust == other.trust
            && self.server_name == other.server_name
            && match (&self.identity, &other.identity) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Eq for ClientTls {}

impl ClientTls {
    fn changed(self) -> ClientTls {
        ClientTls {
            built: Arc::default(),
            ..self
        }
    }

    /// Trust the CA certificates in `pem` (PEM text) besides the
    /// operating system's roots (or besides the ones given before with
    /// [`with_only_ca_pem`](Self::with_only_ca_pem)).
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`] if `pem` holds no certificate.
    pub fn with_ca_pem(self, pem: &[u8]) -> Result<ClientTls, TlsError> {
        let certs = certificates("CA", pem)?;
        self.with_ca_der(certs.into_iter().map(|c| c.to_vec()))
    }

    /// [`with_ca_pem`](Self::with_ca_pem) from DER-encoded certificates
    /// (what Python's `ssl.SSLContext.get_ca_certs(binary_form=True)` gives).
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`] if none is given.
    pub fn with_ca_der(
        self,
        certs: impl IntoIterator<Item = Vec<u8>>,
    ) -> Result<ClientTls, TlsError> {
        let mut more: Vec<CertificateDer<'static>> =
            certs.into_iter().map(CertificateDer::from).collect();
        if more.is_empty() {
            return Err(TlsError::config("CA: no certificate given"));
        }
        let trust = match self.trust {
            Trust::System | Trust::Nothing => Trust::SystemAnd(more),
            Trust::SystemAnd(mut c) => {
                c.append(&mut more);
                Trust::SystemAnd(c)
            }
            Trust::Only(mut c) => {
                c.append(&mut more);
                Trust::Only(c)
            }
        };
        Ok(ClientTls { trust, ..self }.changed())
    }

    /// [`with_ca_pem`](Self::with_ca_pem) from a file.
    ///
    /// # Errors
    /// As `with_ca_pem`, or if the file cannot be read.
    pub fn with_ca_file(self, path: impl AsRef<Path>) -> Result<ClientTls, TlsError> {
        let pem = read_file("CA", path.as_ref())?;
        self.with_ca_pem(&pem)
    }

    /// Trust only the CA certificates in `pem`, not the operating
    /// system's roots (a private deployment).
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`] if `pem` holds no certificate.
    pub fn with_only_ca_pem(self, pem: &[u8]) -> Result<ClientTls, TlsError> {
        let certs = certificates("CA", pem)?;
        Ok(ClientTls {
            trust: Trust::Only(certs),
            ..self
        }
        .changed())
    }

    /// [`with_only_ca_pem`](Self::with_only_ca_pem) from a file.
    ///
    /// # Errors
    /// As `with_only_ca_pem`, or if the file cannot be read.
    pub fn with_only_ca_file(self, path: impl AsRef<Path>) -> Result<ClientTls, TlsError> {
        let pem = read_file("CA", path.as_ref())?;
        self.with_only_ca_pem(&pem)
    }

    /// Whether to trust the operating system's roots besides the CA
    /// certificates given (`true` by default). `false` with none given
    /// fails every connection with [`TlsErrorKind::Config`].
    #[must_use]
    pub fn with_system_roots(self, system: bool) -> ClientTls {
        let trust = match (self.trust, system) {
            (Trust::System | Trust::Nothing, true) => Trust::System,
            (Trust::System | Trust::Nothing, false) => Trust::Only(Vec::new()),
            (Trust::SystemAnd(c) | Trust::Only(c), true) => Trust::SystemAnd(c),
            (Trust::SystemAnd(c) | Trust::Only(c), false) => Trust::Only(c),
        };
        ClientTls { trust, ..self }.changed()
    }

    /// Present this certificate chain (PEM, leaf first) and private key
    /// (PEM) to servers that ask for one (mutual TLS).
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`] if they cannot be parsed or do not belong
    /// together.
    pub fn with_client_certificate_pem(
        self,
        cert_chain: &[u8],
        key: &[u8],
    ) -> Result<ClientTls, TlsError> {
        let identity = Some(Arc::new(certified_key(cert_chain, key)?));
        Ok(ClientTls { identity, ..self }.changed())
    }

    /// [`with_client_certificate_pem`](Self::with_client_certificate_pem)
    /// from files.
    ///
    /// # Errors
    /// As `with_client_certificate_pem`, or if a file cannot be read.
    pub fn with_client_certificate_files(
        self,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ClientTls, TlsError> {
        let chain = read_file("certificate chain", cert_chain.as_ref())?;
        let key = read_file("private key", key.as_ref())?;
        self.with_client_certificate_pem(&chain, &key)
    }

    /// Verify the server's certificate against (and send as SNI) this name
    /// instead of the URL's host: for a server reached by an address or an
    /// internal name whose certificate carries its public name.
    #[must_use]
    pub fn with_server_name(self, name: impl Into<String>) -> ClientTls {
        ClientTls {
            server_name: Some(name.into()),
            ..self
        }
        .changed()
    }

    /// **Dangerous**: accept any certificate from any server, so anyone on
    /// the path can read and change the traffic. For a test against a
    /// server with a throwaway certificate only; never the default, and
    /// never right in production.
    #[must_use]
    pub fn dangerous_accept_any_certificate(self) -> ClientTls {
        ClientTls {
            trust: Trust::Nothing,
            ..self
        }
        .changed()
    }

    /// The name to verify for a URL whose host is `host`.
    pub(crate) fn server_name<'a>(&'a self, host: &'a str) -> &'a str {
        self.server_name.as_deref().unwrap_or(host)
    }

    /// The rustls configuration, built on first use and shared by clones.
    pub(crate) fn rustls_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        self.built.get_or_init(|| self.build()).clone()
    }

    fn build(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::config(e.to_string()))?;
        let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match &self.trust {
            Trust::System => Arc::new(
                rustls_platform_verifier::Verifier::new(provider())
                    .map_err(|e| TlsError::config(format!("system trust: {e}")))?,
            ),
            Trust::SystemAnd(extra) => Arc::new(system_and(extra)?),
            Trust::Only(certs) if certs.is_empty() => {
                return Err(TlsError::config(
                    "no trusted roots: the system's are off and no CA was given",
                ));
            }
            Trust::Only(certs) => rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(root_store("CA", certs)?),
                provider(),
            )
            .build()
            .map_err(|e| TlsError::config(format!("CA: {e}")))?,
            Trust::Nothing => Arc::new(AcceptAnything(provider())),
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(key) => {
                builder.with_client_cert_resolver(Arc::new(ClientIdentity(Arc::clone(key))))
            }
        };
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(not(target_os = "android"))]
fn system_and(
    extra: &[CertificateDer<'static>],
) -> Result<rustls_platform_verifier::Verifier, TlsError> {
    rustls_platform_verifier::Verifier::new_with_extra_roots(extra.iter().cloned(), provider())
        .map_err(|e| TlsError::config(format!("system trust: {e}")))
}

#[cfg(target_os = "android")]
fn system_and(
    _extra: &[CertificateDer<'static>],
) -> Result<rustls_platform_verifier::Verifier, TlsError> {
    Err(TlsError::config(
        "Android verifies with the system's roots only: use with_only_ca_pem for a private CA",
    ))
}

/// A client's certificate, offered to every server that asks for one.
#[derive(Debug)]
struct ClientIdentity(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientIdentity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The verifier behind [`ClientTls::dangerous_accept_any_certificate`]:
/// signatures are still checked (the handshake needs them), the
/// certificate itself is not.
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
