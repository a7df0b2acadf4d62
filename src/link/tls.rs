//! TLS for `mqtts://`: rustls with the `ring` provider (no aws-lc-rs, so no cmake build).
//!
//! The broker's certificate is checked against the CA file when one is given, else against the
//! operating system's trust store. A client certificate and key (PEM; the key as PKCS#8,
//! PKCS#1 or SEC1) turn on mutual TLS. rumqttc sends the broker's host name as SNI.
//! Files are read once, when the link starts, so every problem with them is reported then,
//! naming the file, instead of as a failing reconnect loop.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls_platform_verifier::BuilderVerifierExt;

use super::config::TlsFiles;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("the {what} {} is not valid PEM: {reason}", path.display())]
    InvalidPem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("the {what} {} holds no PEM certificate", path.display())]
    NoCertificate { what: &'static str, path: PathBuf },
    #[error("the client key file {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    #[error("the CA file {} holds an unusable certificate: {reason}", path.display())]
    BadCa { path: PathBuf, reason: String },
    #[error("the client certificate and key cannot be used: {0}")]
    ClientAuth(String),
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

const CA: &str = "CA file";
const CLIENT_CERT: &str = "client certificate file";
const CLIENT_KEY: &str = "client key file";

/// The rustls configuration for `files`.
pub(crate) fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let builder = match &files.ca_file {
        Some(path) => builder.with_root_certificates(root_store(path)?),
        None => builder
            .with_platform_verifier()
            .map_err(|e| TlsError::Setup(format!("cannot use the system's trust store: {e}")))?,
    };
    let config = match &files.client_cert {
        None => builder.with_no_client_auth(),
        Some(client) => {
            let certs = certificates(&client.cert_file, CLIENT_CERT)?;
            let key = private_key(&client.key_file, &provider)?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| TlsError::ClientAuth(e.to_string()))?
        }
    };
    Ok(Arc::new(config))
}

fn root_store(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(path, CA)? {
        roots.add(cert).map_err(|e| TlsError::BadCa {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn invalid_pem(path: &Path, what: &'static str, error: pem::Error) -> TlsError {
    TlsError::InvalidPem {
        what,
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid_pem(path, what, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key in the file, whichever of the three PEM labels it carries; checked
/// against the provider here so that an unsupported key names its file.
fn private_key(path: &Path, provider: &CryptoProvider) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path, CLIENT_KEY)?;
    let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        e => invalid_pem(path, CLIENT_KEY, e),
    })?;
    provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| TlsError::InvalidPem {
            what: CLIENT_KEY,
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::config::ClientCertFiles;

    // Throwaway keys made with openssl for these tests only; they sign nothing.
    const SEC1_KEY: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEICTIfRiBAqbzR0PquNvqTpo979xyj0A1wul2BMEx7ju6oAoGCCqGSM49
AwEHoUQDQgAE8eQdZUojn/xjb8xlmMg61cq6DHSOuPJlaVF9nUtP6FYLoPi1bM7E
hEVemsgR11O4UC1QcArcWoSVtAiU0RAMiA==
-----END EC PRIVATE KEY-----
";
    const PKCS1_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAn/M4spoJlGZuNfXqNmKE7TASQxD0py8Lvc5epue5EyayQu0R
riUPGG4j/MRiAY/cbxrq/PIKr6RfSqxK5lcHXWKWw4grsC5Vhuy4sUc3jmnmJ+m/
J2X78x4NCTZA1G29PBcUGX6K8KQ4/tJ2bednN1CTkNbRUwgULKNYHI120rmm9e1a
FqrOGnGxSLHE7WOq8g29dCKDr7I5YaJmvvsOF9qKCwd9CRyB7t48PuPtPZ5HkqlB
DXC+PDbY48I/SOsZBoehmJCr3hSx90yH9Qzo9onnfGpJNs0DAjANhSAQgemgEN3c
VYV5aNPv6bcwydWmDQe0rraniEiwX3+iMimW7QIDAQABAoIBAAaQSIdWYtuVcyMB
EGINm5Qldi+3sRJwj8lzf9bW3iAMZSGcm4PLPtoAdbbtqB1AS19pJLN0iz5h6bcl
aCgY8ihsNJuZfubKlUqQHulyGV7dYaB0VcUcHkFVE7Ezv2f4M4e/urIWde/MuA9c
5kHkTmFVYSN/F9/nDkzhTGr/iHIP3kZJ54InmTwT0BRF+HnEsy7PL+NNX2BSgpA1
BOb+l+wzQY7TFtoN1VrpT9YKsqc1sLmNkFiFYIJpBOAB/YipPqr/+IjD3uQF4pOG
cQTE9jcqiu3hziGvvhs2zUtJqNCBx9c75TRlBwgTRsnlWezPH76WH3d8dVaaiQRF
iwnMmdECgYEA2GhBkTCm7Re//HlgxqzAvIllsXm8smK1LTFJE9Wb9fXaKaE5cEmU
JBCs/2vG6WxGetQxxzVs6EJfURBMxtdVk7xxBMomeznLCs7CVY77ZvrmJ4mMwaJY
wlq6UfMiDufpyk5KQBHUR+bUlPL7tfKicl9Zqy7PY86822vL4L9Wx1MCgYEAvTa2
h2bMWHlkhfe8bJJjgc+eJN8d2iabCysvVZNd7ZolpqgPwybogJLNFs9Rfn7wPQOs
uqEFY0JsGKwYKeGEk7wxb+7eOo09upHqGPZxbgtOQmIa9UnF4fF+0pkSjskYCzlm
YnzZGewjQVdOWD1FjYCy6yOjiX5pueeHJSTtoL8CgYA8Bl75aKdEaCwGWZxwPwaO
xQWB/qRKTnq2eE8uwzcpN/I1TdTiwmXmwwFZL4nSwQejlivgd38nxREvKPhCxwOj
oMcwbunRkCwzaToaBTjSTZF9Mffq1Z8M+aFojanKvKTqSmDp+IgLEYmxbtxGkXBh
jPUQOEGqC3Py4KmCQ1BMpQKBgQCaGbhY2Fku6Vb8YMKd7i+KpovW3bwTUoPNedNo
L8g83eEyNQf5WXPcWzMbE6f8jOed2aNQsBmSOKOPCIH5ggkWxRvCXNmy+BtBGtt8
jyHcjOqk1/+6q+W02Zj/bdmWXqLtaUdAiQvLt+0Sp0dQSD6gOyP8q57iOQlkdfM0
RjoeQwKBgHuDzo3ttBeS0/ejndjJ2wSHpPqugpxj24D9UVMgS+uuz6OngMBVk90i
9aBs7vAjcHmuD/F0hwv5IysolDD2gueQM6RCNOQDg4bgz1WlMdflt1gjruG6Iqbq
CCy+qF04Czxq9wX+fiqnghPIUKxZk3W8Qq8JPXjfipUkLbBpdAFJ
-----END RSA PRIVATE KEY-----
";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn ca_only(path: PathBuf) -> TlsFiles {
        TlsFiles {
            ca_file: Some(path),
            client_cert: None,
        }
    }

    #[test]
    fn missing_files_are_named() {
        let err = client_config(&ca_only("/nonexistent/ca.pem".into())).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("cannot read the CA file /nonexistent/ca.pem"),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn files_without_pem_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = write(dir.path(), "empty.pem", "hello\n");
        let err = client_config(&ca_only(empty)).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");

        let broken = write(
            dir.path(),
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n",
        );
        let err = client_config(&ca_only(broken)).unwrap_err();
        assert!(matches!(err, TlsError::InvalidPem { .. }), "{err}");
        assert!(!err.to_string().contains('\n'));

        let garbage = write(
            dir.path(),
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let err = client_config(&ca_only(garbage)).unwrap_err();
        assert!(matches!(err, TlsError::BadCa { .. }), "{err}");
    }

    #[test]
    fn keys_in_each_pem_form_are_read_and_bad_keys_refused() {
        let dir = tempfile::tempdir().unwrap();
        let provider = rustls::crypto::ring::default_provider();
        let sec1 = write(dir.path(), "sec1.pem", SEC1_KEY);
        assert!(matches!(
            private_key(&sec1, &provider).unwrap(),
            PrivateKeyDer::Sec1(_)
        ));
        let pkcs1 = write(dir.path(), "pkcs1.pem", PKCS1_KEY);
        assert!(matches!(
            private_key(&pkcs1, &provider).unwrap(),
            PrivateKeyDer::Pkcs1(_)
        ));
        let none = write(dir.path(), "none.pem", "no key here\n");
        assert!(matches!(
            private_key(&none, &provider),
            Err(TlsError::NoKey { .. })
        ));
        let junk = write(
            dir.path(),
            "junk.pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        let err = private_key(&junk, &provider).unwrap_err();
        assert!(matches!(err, TlsError::InvalidPem { .. }), "{err}");
    }

    #[test]
    fn an_unreadable_client_certificate_is_named() {
        let files = TlsFiles {
            ca_file: None,
            client_cert: Some(ClientCertFiles {
                cert_file: "/nonexistent/client.pem".into(),
                key_file: "/nonexistent/client.key".into(),
            }),
        };
        let err = client_config(&files).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read the client certificate file"),
            "{err}"
        );
    }
}
