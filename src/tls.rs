//! HTTPS on the public listener: the certificate chain and key from the
//! PEM files `tls_cert` and `tls_key`, the rustls server config (ALPN `h2`
//! and `http/1.1`) and the acceptor built on it, and reloading the files on
//! `SIGHUP` without dropping a connection.
//!
//! The certified key sits in an [`ArcSwap`] behind a certificate resolver,
//! so a reload swaps it for handshakes to come while connections already
//! open keep the session they negotiated.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// The protocols offered by ALPN, in the server's order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The listener's TLS: what accepts handshakes, and the certificate it shows.
pub struct Tls {
    acceptor: TlsAcceptor,
    certificate: Arc<Certificate>,
}

impl Tls {
    /// Reads the certificate chain and key; an error names the file at fault.
    pub fn load(files: &TlsFiles) -> anyhow::Result<Tls> {
        // Explicitly ring, the provider the rest of the process uses, so
        // that this does not depend on one having been installed first.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certificate = Arc::new(Certificate {
            current: ArcSwap::new(Arc::new(certified_key(files, &provider)?)),
            files: files.clone(),
            provider: provider.clone(),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS: the crypto provider supports no safe protocol version")?
            .with_no_client_auth()
            .with_cert_resolver(certificate.clone());
        config.alpn_protocols = ALPN.iter().map(|protocol| protocol.to_vec()).collect();
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificate,
        })
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reads the files again; on failure keeps the certificate in use.
    pub fn reload(&self) -> anyhow::Result<()> {
        self.certificate.reload()
    }

    /// Reloads the certificate on every `SIGHUP` for as long as the server
    /// runs (beside the config reload on the same signal). Listens from the
    /// moment it is called, so that no `SIGHUP` after start-up is missed.
    pub fn reload_on_hangup(self: Arc<Self>) -> impl Future<Output = ()> + Send + 'static {
        crate::signals::on_every_hangup("the TLS certificate", move || {
            let files = &self.certificate.files;
            match self.reload() {
                Ok(()) => tracing::info!(
                    "reloaded the TLS certificate from {} and {}",
                    files.cert.display(),
                    files.key.display()
                ),
                Err(error) => tracing::warn!(
                    "TLS certificate not reloaded, still serving the previous one: {error:#}"
                ),
            }
        })
    }
}

/// The certificate shown to every client, swapped whole on reload.
struct Certificate {
    current: ArcSwap<CertifiedKey>,
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
}

impl Certificate {
    fn reload(&self) -> anyhow::Result<()> {
        let key = certified_key(&self.files, &self.provider)?;
        self.current.store(Arc::new(key));
        Ok(())
    }
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The chain and key from their PEM files, checked to belong together.
fn certified_key(files: &TlsFiles, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let chain = read_chain(&files.cert)?;
    let key = read_key(&files.key)?;
    CertifiedKey::from_der(chain, key, provider).map_err(|error| {
        anyhow!(
            "{} and {}: the certificate and key do not go together: {error}",
            files.cert.display(),
            files.key.display()
        )
    })
}

fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read(path, "certificate chain")?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            anyhow!(
                "{}: not a PEM certificate chain: {}",
                path.display(),
                describe(error)
            )
        })?;
    if chain.is_empty() {
        bail!(
            "{}: no certificate in it (expected PEM `BEGIN CERTIFICATE` blocks)",
            path.display()
        );
    }
    Ok(chain)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = read(path, "private key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| match error {
        pem::Error::NoItemsFound => anyhow!(
            "{}: no private key in it (expected a PEM `BEGIN PRIVATE KEY`, \
             `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block)",
            path.display()
        ),
        error => anyhow!(
            "{}: not a PEM private key: {}",
            path.display(),
            describe(error)
        ),
    })
}

/// A PEM error in words: its own `Display` shows markers as byte arrays.
fn describe(error: pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { end_marker } => {
            let label = String::from_utf8_lossy(&end_marker);
            format!("a `BEGIN {label}` block has no `END {label}` line")
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed block start `{}`", String::from_utf8_lossy(&line))
        }
        pem::Error::Base64Decode(error) => format!("bad base64 in a block: {error}"),
        error => error.to_string(),
    }
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the TLS {what} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> TlsFiles {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("generate certificate");
        let files = TlsFiles {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert, generated.cert.pem()).expect("write cert");
        std::fs::write(&files.key, generated.signing_key.serialize_pem()).expect("write key");
        files
    }

    fn error(files: &TlsFiles) -> String {
        format!("{:#}", Tls::load(files).err().expect("load fails"))
    }

    #[test]
    fn a_matching_pair_loads_and_reloads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = write_pair(dir.path(), "a");
        let tls = Tls::load(&files).expect("load");
        let before = tls.certificate.current.load_full();
        write_pair(dir.path(), "a");
        tls.reload().expect("reload");
        assert_ne!(tls.certificate.current.load().cert, before.cert);
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = write_pair(dir.path(), "good");
        let other = write_pair(dir.path(), "other");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not pem at all\n").expect("write");
        let missing = dir.path().join("missing.pem");

        let no_cert = TlsFiles {
            cert: missing.clone(),
            key: good.key.clone(),
        };
        assert!(
            error(&no_cert).contains("missing.pem"),
            "{}",
            error(&no_cert)
        );
        let bad_cert = TlsFiles {
            cert: garbage.clone(),
            key: good.key.clone(),
        };
        assert!(
            error(&bad_cert).contains("garbage.pem"),
            "{}",
            error(&bad_cert)
        );
        let bad_key = TlsFiles {
            cert: good.cert.clone(),
            key: garbage,
        };
        assert!(
            error(&bad_key).contains("garbage.pem"),
            "{}",
            error(&bad_key)
        );
        let mismatched = TlsFiles {
            cert: good.cert.clone(),
            key: other.key,
        };
        assert!(
            error(&mismatched).contains("do not go together"),
            "{}",
            error(&mismatched)
        );
    }

    #[test]
    fn a_failed_reload_keeps_the_certificate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = write_pair(dir.path(), "a");
        let tls = Tls::load(&files).expect("load");
        let before = tls.certificate.current.load_full();
        std::fs::write(&files.cert, "broken").expect("write");
        let error = format!("{:#}", tls.reload().expect_err("reload fails"));
        assert!(error.contains("a.crt"), "{error}");
        assert!(Arc::ptr_eq(&tls.certificate.current.load_full(), &before));
    }
}
