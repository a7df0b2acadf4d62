//! What the link needs to know: the saved broker profile (no secrets), the password handed in
//! by the caller (from the keychain), and the session settings.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{MqttOptions, NetworkOptions, TlsConfiguration, Transport};
use serde::{Deserialize, Serialize};

use super::address::BrokerAddress;
use super::tls::{self, TlsError};
use crate::protocol::TopicPrefix;

/// Outgoing publishes awaiting PUBACK at once: the throughput knob (RECIPES: about 7x between
/// 100 and 1000).
pub const DEFAULT_INFLIGHT: u16 = 1000;
/// Short enough that a dead connection is noticed within a minute.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(30);
/// The largest remaining length MQTT can encode (256 MiB - 1). The incoming limit is set to it
/// on purpose: any smaller limit turns an oversized message into a connection error, and with a
/// persistent session the broker would redeliver it after every reconnect. Oversized bodies
/// are refused by the protocol layer instead.
pub const MAX_PACKET_BYTES: usize = 268_435_455;
/// Longest client id accepted, in bytes (MQTT strings are at most 65,535 bytes; brokers
/// commonly cap far lower, so keep ids short).
pub const MAX_CLIENT_ID_BYTES: usize = 256;

/// A saved broker profile: where the broker is, how to trust it, who we are. The password is
/// not part of it: it lives in the OS keychain and is passed to [`LinkConfig`] at connect time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerProfile {
    pub broker: BrokerAddress,
    #[serde(default)]
    pub tls: TlsFiles,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl BrokerProfile {
    pub fn new(broker: BrokerAddress) -> Self {
        Self {
            broker,
            tls: TlsFiles::default(),
            username: None,
        }
    }
}

/// TLS files for `mqtts://` brokers (PEM).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFiles {
    /// The CA certificate(s) that signed the broker's certificate; `None` trusts the
    /// operating system's store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key, for brokers that require mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<ClientCertFiles>,
}

impl TlsFiles {
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none() && self.client_cert.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCertFiles {
    pub cert_file: PathBuf,
    /// PKCS#8, PKCS#1 or SEC1.
    pub key_file: PathBuf,
}

/// A broker password. Never printed: `Debug` shows a placeholder and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Everything [`Link::start`](super::Link::start) needs.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub profile: BrokerProfile,
    pub password: Option<Password>,
    /// One stable id per installation for the persistent session (DESIGN.md section 3).
    pub client_id: String,
    /// `false` (the default) keeps the broker-side session, so replies sent while Storefleet
    /// was away are delivered when it returns.
    pub clean_session: bool,
    /// Subscriptions are made only when the broker has no session for us, so after changing
    /// the prefix, connect once with `clean_session` (or a new client id).
    pub topic_prefix: TopicPrefix,
    /// Outgoing QoS 1 publishes awaiting PUBACK at once; also how many the link holds for
    /// resending while the broker is away before `publish` waits.
    pub inflight: u16,
    /// Zero, or whole seconds from 1 to 65,535.
    pub keep_alive: Duration,
    /// Inbound bodies larger than this reach the caller as an excerpt with their size and
    /// MD5 (see [`InboundMessage`](super::InboundMessage)): a flood of large messages never
    /// piles up in memory. The protocol's decode limit by default.
    pub max_body: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the MQTT client id is empty")]
    EmptyClientId,
    #[error("the MQTT client id is {0} bytes long; at most {MAX_CLIENT_ID_BYTES} are allowed")]
    ClientIdTooLong(usize),
    #[error("the MQTT client id contains a control character")]
    ClientIdControl,
    #[error("inflight must be at least 1")]
    ZeroInflight,
    #[error("keep alive must be 0 or whole seconds from 1 to 65535, not {0:?}")]
    KeepAlive(Duration),
    #[error("a password needs a user name (MQTT 3.1.1 sends no password without one)")]
    PasswordWithoutUsername,
    #[error("the MQTT user name is empty")]
    EmptyUsername,
    #[error("TLS files are set but {0} is plain TCP; use mqtts://")]
    TlsFilesOnPlainBroker(BrokerAddress),
    #[error("mqtts:// needs a host name, not the IPv6 address {0}")]
    TlsIpv6(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl LinkConfig {
    /// The defaults: persistent session, empty topic prefix, inflight 1000, keep alive 30 s.
    pub fn new(profile: BrokerProfile, client_id: impl Into<String>) -> Self {
        Self {
            profile,
            password: None,
            client_id: client_id.into(),
            clean_session: false,
            topic_prefix: TopicPrefix::default(),
            inflight: DEFAULT_INFLIGHT,
            keep_alive: DEFAULT_KEEP_ALIVE,
            max_body: crate::protocol::MAX_BODY_BYTES,
        }
    }

    pub fn with_password(mut self, password: Password) -> Self {
        self.password = Some(password);
        self
    }

    /// Checks every setting and reads the TLS files.
    pub(crate) fn validate(&self) -> Result<Option<Arc<rustls::ClientConfig>>, ConfigError> {
        let id = &self.client_id;
        if id.is_empty() {
            return Err(ConfigError::EmptyClientId);
        }
        if id.len() > MAX_CLIENT_ID_BYTES {
            return Err(ConfigError::ClientIdTooLong(id.len()));
        }
        if id.chars().any(char::is_control) {
            return Err(ConfigError::ClientIdControl);
        }
        if self.inflight == 0 {
            return Err(ConfigError::ZeroInflight);
        }
        let ka = self.keep_alive;
        if ka.subsec_nanos() != 0 || ka.as_secs() > u64::from(u16::MAX) {
            return Err(ConfigError::KeepAlive(ka));
        }
        match (&self.profile.username, &self.password) {
            (Some(name), _) if name.is_empty() => return Err(ConfigError::EmptyUsername),
            (None, Some(_)) => return Err(ConfigError::PasswordWithoutUsername),
            _ => {}
        }
        let broker = &self.profile.broker;
        if !broker.is_tls() {
            if !self.profile.tls.is_empty() {
                return Err(ConfigError::TlsFilesOnPlainBroker(broker.clone()));
            }
            return Ok(None);
        }
        // rumqttc hands the host to rustls as the server name, which an IPv6 literal in
        // brackets is not.
        if broker.is_ipv6() {
            return Err(ConfigError::TlsIpv6(broker.host().to_owned()));
        }
        Ok(Some(tls::client_config(&self.profile.tls)?))
    }

    /// rumqttc's options for this configuration; `tls` comes from [`Self::validate`].
    pub(crate) fn mqtt_options(&self, tls: Option<Arc<rustls::ClientConfig>>) -> MqttOptions {
        let broker = &self.profile.broker;
        let mut options =
            MqttOptions::new(self.client_id.clone(), broker.connect_host(), broker.port());
        options
            .set_clean_session(self.clean_session)
            .set_keep_alive(self.keep_alive)
            .set_inflight(self.inflight)
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
            // A QoS 1 message is acknowledged only once the caller has recorded it.
            .set_manual_acks(true);
        if let Some(config) = tls {
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
        }
        if let Some(username) = &self.profile.username {
            let password = self.password.as_ref().map(Password::expose).unwrap_or("");
            options.set_credentials(username.clone(), password);
        }
        options
    }

    pub(crate) fn network_options(&self) -> NetworkOptions {
        let mut network = NetworkOptions::new();
        // Commands and acks are small and latency matters more than packet count.
        network.set_tcp_nodelay(true);
        network.set_connection_timeout(CONNECT_TIMEOUT_SECS);
        network
    }
}

/// TCP connect, TLS handshake and CONNACK together.
pub(crate) const CONNECT_TIMEOUT_SECS: u64 = 10;

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> LinkConfig {
        LinkConfig::new(BrokerProfile::new(url.parse().unwrap()), "storefleet-test")
    }

    #[test]
    fn password_never_shows_in_debug() {
        let mut c = config("mqtt://localhost").with_password(Password::new("hunter2"));
        c.profile.username = Some("ops".into());
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn settings_are_checked() {
        let mut c = config("mqtt://localhost");
        assert!(c.validate().unwrap().is_none());
        c.client_id.clear();
        assert!(matches!(c.validate(), Err(ConfigError::EmptyClientId)));
        c.client_id = "a\nb".into();
        assert!(matches!(c.validate(), Err(ConfigError::ClientIdControl)));
        c.client_id = "x".repeat(300);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::ClientIdTooLong(300))
        ));
        c.client_id = "ok".into();
        c.inflight = 0;
        assert!(matches!(c.validate(), Err(ConfigError::ZeroInflight)));
        c.inflight = 10;
        c.keep_alive = Duration::from_millis(500);
        assert!(matches!(c.validate(), Err(ConfigError::KeepAlive(_))));
        c.keep_alive = Duration::ZERO;
        assert!(c.validate().is_ok());
        c.password = Some(Password::new("p"));
        assert!(matches!(
            c.validate(),
            Err(ConfigError::PasswordWithoutUsername)
        ));
    }

    #[test]
    fn tls_settings_need_mqtts() {
        let mut c = config("mqtt://localhost:1883");
        c.profile.tls.ca_file = Some("/tmp/ca.pem".into());
        let err = c.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "TLS files are set but mqtt://localhost:1883 is plain TCP; use mqtts://"
        );
        let c = config("mqtts://[::1]");
        assert!(matches!(c.validate(), Err(ConfigError::TlsIpv6(_))));
    }

    #[test]
    fn profile_serializes_without_secrets() {
        let mut profile = BrokerProfile::new("mqtts://broker:8883".parse().unwrap());
        profile.username = Some("ops".into());
        profile.tls.ca_file = Some("/etc/ca.pem".into());
        let json = serde_json::to_string(&profile).unwrap();
        assert_eq!(
            json,
            r#"{"broker":"mqtts://broker:8883","tls":{"ca_file":"/etc/ca.pem"},"username":"ops"}"#
        );
        let back: BrokerProfile = serde_json::from_str(&json).unwrap();
        assert_eq!(back, profile);
    }
}
