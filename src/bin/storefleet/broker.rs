//! `--broker URL` and its credentials: where the controllers' MQTT broker is and how to
//! trust it.

use std::path::PathBuf;

use storefleet::link::{
    BrokerAddress, BrokerProfile, ClientCertFiles, DEFAULT_INFLIGHT, Password, TlsFiles,
};
use storefleet::service::BrokerSettings;

use crate::failure::Failure;

/// Broker options shared by every command that talks to the broker.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BrokerArgs {
    /// The MQTT broker the controllers use: mqtt://HOST:PORT or mqtts://HOST:PORT.
    #[arg(long, global = true, env = "STOREFLEET_BROKER", value_name = "URL")]
    pub broker: Option<String>,
    /// mqtts: the CA certificate (PEM) that signed the broker's certificate (default: the
    /// system's trusted CAs).
    #[arg(long, global = true, env = "STOREFLEET_CA_FILE", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// mqtts: this client's certificate (PEM), for brokers that require mutual TLS.
    #[arg(
        long,
        global = true,
        env = "STOREFLEET_CLIENT_CERT",
        value_name = "PEM",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// mqtts: the private key (PEM) of --client-cert.
    #[arg(
        long,
        global = true,
        env = "STOREFLEET_CLIENT_KEY",
        value_name = "PEM",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
    /// The broker user name; the password is read from STOREFLEET_PASSWORD, never from the
    /// command line (where other users could read it).
    #[arg(long, global = true, env = "STOREFLEET_USERNAME", value_name = "NAME")]
    pub username: Option<String>,
}

impl BrokerArgs {
    /// The broker settings, refused when no broker is given or the URL is bad.
    pub fn settings(&self) -> Result<BrokerSettings, Failure> {
        let url = self.broker.as_deref().ok_or_else(|| {
            Failure::refused("no broker: pass --broker mqtt://HOST:PORT or set STOREFLEET_BROKER")
        })?;
        let address: BrokerAddress = url
            .parse()
            .map_err(|e| Failure::refused(format!("--broker {url:?}: {e}")))?;
        let mut profile = BrokerProfile::new(address);
        profile.tls = TlsFiles {
            ca_file: self.ca_file.clone(),
            client_cert: match (&self.client_cert, &self.client_key) {
                (Some(cert_file), Some(key_file)) => Some(ClientCertFiles {
                    cert_file: cert_file.clone(),
                    key_file: key_file.clone(),
                }),
                _ => None,
            },
        };
        profile.username = self.username.clone();
        let password = std::env::var("STOREFLEET_PASSWORD").ok().map(Password::new);
        Ok(BrokerSettings {
            profile,
            password,
            inflight: DEFAULT_INFLIGHT,
        })
    }
}
