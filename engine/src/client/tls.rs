//! TLS for `https://` servers: rustls with the ring provider (nothing to build against
//! OpenSSL), built once per host from the server settings.
//!
//! Trust: the system's roots, as `rustls-native-certs` finds them (`SSL_CERT_FILE` and
//! `SSL_CERT_DIR`, when set, replace the system's store, as they do for OpenSSL-based clients),
//! plus every certificate of `CONDUCTOR_TLS_CA_FILE`. A client certificate and key
//! (`CONDUCTOR_TLS_CLIENT_CERT` + `CONDUCTOR_TLS_CLIENT_KEY`) turn on mutual TLS. A file that
//! cannot be read or holds nothing usable is a [`ConfigError::TlsFile`] when the host is built.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::config::{ConfigError, Source, TlsSettings};

/// The client TLS configuration for `settings`: roots, extra CA, optional client certificate.
/// (ALPN is left to the connector, which offers HTTP/1.1.)
pub(crate) fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, ConfigError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for err in &native.errors {
        tracing::warn!(error = %err, "a system root certificate could not be loaded");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 {
        tracing::debug!(
            added,
            ignored,
            "some system root certificates were not usable"
        );
    }
    if let Some((path, origin)) = &settings.ca_file {
        let certs = read_certificates(path, "tls_ca_file", origin)?;
        for cert in certs {
            roots.add(cert).map_err(|err| {
                tls_file_error(
                    "tls_ca_file",
                    origin,
                    path,
                    format!("not a usable CA: {err}"),
                )
            })?;
        }
    }
    if roots.is_empty() {
        tracing::warn!(
            "no trusted root certificates: https:// servers will be refused \
             (set SSL_CERT_FILE or CONDUCTOR_TLS_CA_FILE)"
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| ConfigError::Tls(err.to_string()))?
        .with_root_certificates(roots);
    let config = match &settings.client_identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let (cert_path, cert_origin) = &identity.cert;
            let (key_path, key_origin) = &identity.key;
            let chain = read_certificates(cert_path, "tls_client_cert", cert_origin)?;
            let key = PrivateKeyDer::from_pem_file(key_path).map_err(|err| {
                tls_file_error(
                    "tls_client_key",
                    key_origin,
                    key_path,
                    format!("no PEM private key: {err}"),
                )
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|err| {
                tls_file_error(
                    "tls_client_key",
                    key_origin,
                    key_path,
                    format!("does not fit the client certificate: {err}"),
                )
            })?
        }
    };
    Ok(Arc::new(config))
}

/// Every certificate of a PEM file; none at all is an error.
fn read_certificates(
    path: &Path,
    key: &'static str,
    origin: &Source,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| tls_file_error(key, origin, path, err.to_string()))?;
    if certs.is_empty() {
        return Err(tls_file_error(
            key,
            origin,
            path,
            "no PEM certificate in it".to_owned(),
        ));
    }
    Ok(certs)
}

fn tls_file_error(key: &'static str, origin: &Source, path: &Path, reason: String) -> ConfigError {
    ConfigError::TlsFile {
        key,
        origin: origin.clone(),
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::ClientIdentity;

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("baton-tls-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn file(&self, name: &str, contents: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn from_code(path: PathBuf) -> (PathBuf, Source) {
        (path, Source::Code)
    }

    #[test]
    fn a_private_ca_and_a_client_identity_load() {
        let dir = Scratch::new("ok");
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()]).unwrap();
        let client = rcgen::generate_simple_self_signed(vec!["client.test".to_owned()]).unwrap();
        let settings = TlsSettings {
            ca_file: Some(from_code(dir.file("ca.pem", &ca.cert.pem()))),
            client_identity: Some(ClientIdentity {
                cert: from_code(dir.file("client.pem", &client.cert.pem())),
                key: from_code(dir.file("client.key", &client.signing_key.serialize_pem())),
            }),
        };
        let config = client_config(&settings).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn unusable_files_are_configuration_errors() {
        let dir = Scratch::new("bad");
        let not_pem = dir.file("garbage.pem", "not a certificate\n");
        let missing = dir.0.join("missing.pem");
        for path in [not_pem, missing] {
            let settings = TlsSettings {
                ca_file: Some(from_code(path.clone())),
                client_identity: None,
            };
            let err = client_config(&settings).unwrap_err();
            assert!(
                matches!(&err, ConfigError::TlsFile { key: "tls_ca_file", path: p, .. } if *p == path),
                "{err:?}"
            );
            assert!(err.to_string().contains("tls_ca_file"), "{err}");
        }
        // A key that does not belong to the certificate.
        let one = rcgen::generate_simple_self_signed(vec!["a.test".to_owned()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["b.test".to_owned()]).unwrap();
        let settings = TlsSettings {
            ca_file: None,
            client_identity: Some(ClientIdentity {
                cert: from_code(dir.file("a.pem", &one.cert.pem())),
                key: from_code(dir.file("b.key", &other.signing_key.serialize_pem())),
            }),
        };
        let err = client_config(&settings).unwrap_err();
        assert!(
            matches!(
                &err,
                ConfigError::TlsFile {
                    key: "tls_client_key",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
