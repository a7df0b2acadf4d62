//! How the desktop app runs its built-in firmware server, as the operator set it: on or off, the
//! address and port it listens on, and the host controllers are told to download from. Kept in a
//! small JSON file beside the broker profiles, so it survives restarts. The CLI has its own flags
//! (`deploy --serve ADDR:PORT --advertise HOST`) and never reads it.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::address::{default_advertise_host, url_host};
use super::server::{DEFAULT_BIND, ServerConfig};

const FILE_NAME: &str = "firmware-server.json";

/// The operator's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ServerSettings {
    /// Off: nothing listens; deployments need a URL of their own (`external`).
    pub enabled: bool,
    /// The IP address to listen on; `0.0.0.0` is every network of this machine.
    pub bind_address: String,
    /// 0: any free port (a new one each start, so retries of older deployments break).
    pub port: u16,
    /// The host name or address put in firmware URLs; `None`: the bind address, or for
    /// `0.0.0.0` this machine's first network address.
    pub advertise: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            bind_address: DEFAULT_BIND.ip().to_string(),
            port: DEFAULT_BIND.port(),
            advertise: None,
        }
    }
}

/// Who can download from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ServerReach {
    /// Not running.
    Off,
    /// Listening on loopback, or advertising it: only controllers on this machine (the demo).
    ThisMachine,
    /// Listening on a network address: anything on the store network that can reach it.
    StoreNetwork,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerSettingsError {
    #[error("bind address {0:?} is not an IP address (0.0.0.0 listens on every network)")]
    BindAddress(String),
    #[error("advertised host {0:?} is not a host name or IP address the controllers could reach")]
    Advertise(String),
    #[error("{0}")]
    Storage(String),
}

impl ServerSettings {
    /// The server to start, checked; `None` when it is off.
    pub fn config(&self) -> Result<Option<ServerConfig>, ServerSettingsError> {
        let ip: IpAddr = self
            .bind_address
            .trim()
            .parse()
            .map_err(|_| ServerSettingsError::BindAddress(self.bind_address.clone()))?;
        let advertise = match self.advertise.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(host) => {
                url_host(host).map_err(|_| ServerSettingsError::Advertise(host.to_owned()))?;
                Some(host.to_owned())
            }
        };
        Ok(self.enabled.then(|| ServerConfig {
            bind: SocketAddr::new(ip, self.port),
            advertise,
        }))
    }

    /// The settings as they were checked: trimmed, a blank advertised host as none.
    pub fn normalized(&self) -> Result<Self, ServerSettingsError> {
        let config = self.config()?;
        let mut out = self.clone();
        out.bind_address = self.bind_address.trim().to_owned();
        out.advertise = self
            .advertise
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_owned);
        debug_assert_eq!(config.is_some(), out.enabled);
        Ok(out)
    }

    /// Settings from `STOREFLEET_SERVE` (`ADDR:PORT`) and `STOREFLEET_ADVERTISE`, which win over
    /// the saved ones for one run (tests, scripted kiosks); `None` when neither is set.
    pub fn from_env(saved: &Self) -> Option<Self> {
        let serve = std::env::var("STOREFLEET_SERVE").ok();
        let advertise = std::env::var("STOREFLEET_ADVERTISE").ok();
        if serve.is_none() && advertise.is_none() {
            return None;
        }
        let mut out = saved.clone();
        if let Some(text) = serve {
            match text.parse::<SocketAddr>() {
                Ok(addr) => {
                    out.enabled = true;
                    out.bind_address = addr.ip().to_string();
                    out.port = addr.port();
                }
                Err(e) => tracing::warn!(error = %e, "STOREFLEET_SERVE is not ADDR:PORT; ignored"),
            }
        }
        if advertise.is_some() {
            out.advertise = advertise;
        }
        Some(out)
    }

    /// The settings in `dir`, or the defaults when none were saved.
    pub fn load(dir: &Path) -> Result<Self, ServerSettingsError> {
        let path = dir.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ServerSettingsError::Storage(format!("{} is damaged: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ServerSettingsError::Storage(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Writes the settings to `dir` at once (a temporary file renamed over the old one).
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ServerSettingsError> {
        let path = dir.join(FILE_NAME);
        let fail = |e: std::io::Error| {
            ServerSettingsError::Storage(format!("cannot write {}: {e}", path.display()))
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| ServerSettingsError::Storage(e.to_string()))?;
        std::fs::write(&tmp, text).map_err(fail)?;
        std::fs::rename(&tmp, &path).map_err(fail)?;
        Ok(path)
    }
}

/// Who can reach a server listening on `bind` and advertising `advertised_host`.
pub fn reach(bind: SocketAddr, advertised_host: &str) -> ServerReach {
    let advertised_loopback = advertised_host == "localhost"
        || advertised_host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if bind.ip().is_loopback() || advertised_loopback {
        ServerReach::ThisMachine
    } else {
        ServerReach::StoreNetwork
    }
}

/// The host a server with these settings would advertise (for showing before it starts).
pub fn advertised_host(config: &ServerConfig) -> String {
    config
        .advertise
        .clone()
        .unwrap_or_else(|| default_advertise_host(config.bind.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_off_starts_nothing() {
        let on = ServerSettings::default();
        assert_eq!(on.config().unwrap().unwrap().bind, DEFAULT_BIND);
        let off = ServerSettings {
            enabled: false,
            ..on.clone()
        };
        assert_eq!(off.config().unwrap(), None);
        let bad_bind = ServerSettings {
            bind_address: "store-laptop".into(),
            ..on.clone()
        };
        assert!(matches!(
            bad_bind.config(),
            Err(ServerSettingsError::BindAddress(_))
        ));
        let bad_host = ServerSettings {
            advertise: Some("http://x/".into()),
            ..on.clone()
        };
        assert!(matches!(
            bad_host.config(),
            Err(ServerSettingsError::Advertise(_))
        ));
        let blank = ServerSettings {
            advertise: Some("  ".into()),
            bind_address: " 10.0.0.5 ".into(),
            ..on
        };
        let normal = blank.normalized().unwrap();
        assert_eq!(
            (normal.bind_address.as_str(), normal.advertise),
            ("10.0.0.5", None)
        );
    }

    #[test]
    fn settings_survive_a_restart_and_default_when_never_saved() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            ServerSettings::load(dir.path()).unwrap(),
            ServerSettings::default()
        );
        let mine = ServerSettings {
            enabled: true,
            bind_address: "192.168.7.20".into(),
            port: 8088,
            advertise: Some("fw.store-12.lan".into()),
        };
        mine.save(dir.path()).unwrap();
        assert_eq!(ServerSettings::load(dir.path()).unwrap(), mine);
        std::fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        assert!(matches!(
            ServerSettings::load(dir.path()),
            Err(ServerSettingsError::Storage(_))
        ));
    }

    #[test]
    fn loopback_is_this_machine_only() {
        let lo: SocketAddr = "127.0.0.1:7380".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:7380".parse().unwrap();
        assert_eq!(reach(lo, "127.0.0.1"), ServerReach::ThisMachine);
        assert_eq!(reach(any, "127.0.0.1"), ServerReach::ThisMachine);
        assert_eq!(reach(any, "10.0.0.5"), ServerReach::StoreNetwork);
        assert_eq!(reach(any, "fw.store.lan"), ServerReach::StoreNetwork);
    }
}
