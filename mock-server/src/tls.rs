//! TLS for the mock: a server certificate and key (PEM), optionally a CA that client
//! certificates must chain to (mutual TLS), so workers can be tested over `https://` end to
//! end. rustls with the ring provider; HTTP/1.1 over ALPN.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Why the mock's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// PEM text held nothing usable.
    #[error("no usable {what} in the PEM given: {reason}")]
    Pem {
        /// What was looked for.
        what: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the configuration (e.g. a key that does not fit the certificate).
    #[error("TLS configuration refused: {0}")]
    Config(String),
}

/// The mock's certificate chain and key, and the CA client certificates must chain to, if any.
#[derive(Clone)]
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    client_ca: Option<Vec<CertificateDer<'static>>>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("certificates", &self.chain.len())
            .field("key", &"<redacted>")
            .field("client_ca", &self.client_ca.as_ref().map(Vec::len))
            .finish()
    }
}

impl TlsIdentity {
    /// A certificate chain and private key from PEM text.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        Ok(Self {
            chain: certificates(cert_pem, "certificate")?,
            key: Arc::new(
                PrivateKeyDer::from_pem_slice(key_pem).map_err(|err| TlsError::Pem {
                    what: "private key",
                    reason: err.to_string(),
                })?,
            ),
            client_ca: None,
        })
    }

    /// A certificate chain and private key from PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        Self::from_pem(&read(cert, "certificate")?, &read(key, "private key")?)
    }

    /// Requires every client to present a certificate that chains to a CA of `ca_pem`.
    pub fn require_client_certificates(mut self, ca_pem: &[u8]) -> Result<Self, TlsError> {
        self.client_ca = Some(certificates(ca_pem, "client CA certificate")?);
        Ok(self)
    }

    /// The acceptor for this identity.
    pub(crate) fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| TlsError::Config(err.to_string()))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(cas) => {
                let mut roots = RootCertStore::empty();
                for ca in cas {
                    roots
                        .add(ca.clone())
                        .map_err(|err| TlsError::Config(err.to_string()))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|err| TlsError::Config(err.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|err| TlsError::Config(err.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn certificates(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::Pem {
            what,
            reason: err.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            reason: "no CERTIFICATE block".to_owned(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_load_and_bad_pem_is_an_error() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let identity = TlsIdentity::from_pem(
            cert.cert.pem().as_bytes(),
            cert.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        assert!(identity.acceptor().is_ok());
        assert!(!format!("{identity:?}").contains("PRIVATE"));
        let mutual = identity
            .clone()
            .require_client_certificates(cert.cert.pem().as_bytes())
            .unwrap();
        assert!(mutual.acceptor().is_ok());
        assert!(matches!(
            TlsIdentity::from_pem(b"junk", b"junk"),
            Err(TlsError::Pem { .. })
        ));
        let other = rcgen::generate_simple_self_signed(vec!["other".to_owned()]).unwrap();
        let mismatched = TlsIdentity::from_pem(
            cert.cert.pem().as_bytes(),
            other.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        assert!(matches!(mismatched.acceptor(), Err(TlsError::Config(_))));
    }
}
