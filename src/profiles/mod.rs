//! Broker profiles: kept in a JSON file in the desktop app's config folder, with no secrets in
//! it. A profile's password lives in the OS keychain (service "storefleet", user = profile id).
//! The window edits them; `storefleet --profile NAME` uses the same file and keychain, so
//! scripts need no password in their environment.

mod keychain;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use keychain::Keychain;

use crate::link::{self, BrokerAddress, ClientCertFiles, Password, Scheme, TlsFiles};
use crate::protocol::TopicPrefix;

/// The desktop app's identifier (`tauri.conf.json`): its config folder is named after it.
pub const APP_IDENTIFIER: &str = "app.storefleet.desktop";

/// Why a profile could not be read, saved or used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    Invalid(String),
    #[error("no broker profile {0}")]
    NotFound(String),
    #[error("the demo profile cannot be changed")]
    DemoReadOnly,
    #[error("the keychain is not available: {0}")]
    Keychain(String),
    #[error("the password of {0:?} is not in the keychain any more: enter it again")]
    PasswordGone(String),
    #[error("{0}")]
    Storage(String),
}

impl ProfileError {
    fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

/// The folder the desktop app keeps its profiles in (Tauri's `app_config_dir`:
/// `$XDG_CONFIG_HOME/app.storefleet.desktop` on Linux).
pub fn default_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join(APP_IDENTIFIER))
}

/// The id of the built-in demo broker's profile; it is never stored.
pub const DEMO_PROFILE_ID: &str = "demo";
const FILE_NAME: &str = "profiles.json";

/// A saved broker profile as the window shows it: no password, only whether one is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BrokerProfile {
    pub id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub ca_file: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub username: Option<String>,
    /// Put before every topic (`PREFIX/stores/...`); empty: the spec's topics. Kept with each
    /// deployment made through this profile.
    #[serde(default)]
    pub topic_prefix: String,
    pub has_password: bool,
    pub demo: bool,
}

/// What the window sends to create (id null) or change a profile.
#[derive(Clone, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProfileInput {
    pub id: Option<String>,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub ca_file: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub username: Option<String>,
    #[serde(default)]
    pub topic_prefix: String,
    /// `None` keeps the stored password.
    pub password: Option<String>,
    pub clear_password: bool,
}

impl fmt::Debug for ProfileInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileInput")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("topic_prefix", &self.topic_prefix)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("clear_password", &self.clear_password)
            .finish_non_exhaustive()
    }
}

impl BrokerProfile {
    /// The built-in demo broker at `url` (`mqtt://127.0.0.1:PORT`).
    pub fn demo(url: &str) -> Result<Self, ProfileError> {
        let address: BrokerAddress = url
            .parse()
            .map_err(|e: link::AddressError| ProfileError::Storage(e.to_string()))?;
        Ok(Self {
            id: DEMO_PROFILE_ID.to_owned(),
            name: "Demo (built-in broker)".to_owned(),
            host: address.host().to_owned(),
            port: address.port(),
            tls: false,
            ca_file: None,
            client_cert: None,
            client_key: None,
            username: None,
            topic_prefix: String::new(),
            has_password: false,
            demo: true,
        })
    }

    /// The core's profile: where the broker is and how to trust it.
    pub fn link_profile(&self) -> Result<link::BrokerProfile, ProfileError> {
        let scheme = if self.tls {
            Scheme::Mqtts
        } else {
            Scheme::Mqtt
        };
        let broker = BrokerAddress::new(scheme, self.host.trim(), self.port)
            .map_err(|e| ProfileError::invalid(e.to_string()))?;
        let client_cert = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some(ClientCertFiles {
                cert_file: cert.into(),
                key_file: key.into(),
            }),
            (None, None) => None,
            _ => {
                return Err(ProfileError::invalid(
                    "a client certificate needs its key, and a key its certificate",
                ));
            }
        };
        let tls = TlsFiles {
            ca_file: self.ca_file.as_ref().map(PathBuf::from),
            client_cert,
        };
        if !self.tls && !tls.is_empty() {
            return Err(ProfileError::invalid(
                "CA file and client certificate need TLS: turn TLS on or clear them",
            ));
        }
        let mut profile = link::BrokerProfile::new(broker);
        profile.tls = tls;
        profile.username = self.username.clone();
        Ok(profile)
    }

    /// The prefix every topic gets, checked.
    pub fn prefix(&self) -> Result<TopicPrefix, ProfileError> {
        TopicPrefix::new(&self.topic_prefix).map_err(|e| ProfileError::invalid(e.to_string()))
    }

    /// `mqtt://host:port` or `mqtts://host:port`.
    pub fn url(&self) -> String {
        self.link_profile()
            .map(|p| p.broker.to_string())
            .unwrap_or_else(|_| format!("{}:{}", self.host, self.port))
    }
}

/// A blank text field means "none".
fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The profiles file and the keychain entries beside it.
pub struct ProfileStore {
    path: PathBuf,
    keychain: Keychain,
}

impl ProfileStore {
    /// Profiles in `dir/profiles.json`.
    pub fn new(dir: &Path, keychain: Keychain) -> Self {
        Self {
            path: dir.join(FILE_NAME),
            keychain,
        }
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every saved profile, in the order they were created.
    pub fn list(&self) -> Result<Vec<BrokerProfile>, ProfileError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ProfileError::Storage(format!("{} is damaged: {e}", self.path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(ProfileError::Storage(format!(
                "cannot read {}: {e}",
                self.path.display()
            ))),
        }
    }

    pub fn get(&self, id: &str) -> Result<BrokerProfile, ProfileError> {
        self.list()?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| ProfileError::NotFound(id.to_owned()))
    }

    /// The profile a person names: its name (ignoring case) or its id. Two profiles of the same
    /// name are refused rather than guessed between.
    pub fn find(&self, name: &str) -> Result<BrokerProfile, ProfileError> {
        let all = self.list()?;
        if let Some(p) = all.iter().find(|p| p.id == name) {
            return Ok(p.clone());
        }
        let mut named = all
            .into_iter()
            .filter(|p| p.name.eq_ignore_ascii_case(name.trim()));
        match (named.next(), named.next()) {
            (Some(p), None) => Ok(p),
            (Some(_), Some(_)) => Err(ProfileError::invalid(format!(
                "two broker profiles are named {name:?}: give its id instead"
            ))),
            (None, _) => Err(ProfileError::NotFound(format!(
                "{name:?} (in {})",
                self.path.display()
            ))),
        }
    }

    /// Creates or updates a profile; the password goes to the keychain, never to the file.
    pub fn save(&self, input: ProfileInput) -> Result<BrokerProfile, ProfileError> {
        let mut all = self.list()?;
        let existing = match &input.id {
            Some(id) if id == DEMO_PROFILE_ID => return Err(ProfileError::DemoReadOnly),
            Some(id) => Some(
                all.iter()
                    .position(|p| &p.id == id)
                    .ok_or_else(|| ProfileError::NotFound(id.clone()))?,
            ),
            None => None,
        };
        let name = input.name.trim().to_owned();
        if name.is_empty() {
            return Err(ProfileError::invalid("give the profile a name"));
        }
        let id = input
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let had_password = existing.is_some_and(|i| all[i].has_password);
        let new_password = input.password.filter(|p| !p.is_empty());
        let has_password = new_password.is_some() || (had_password && !input.clear_password);
        let profile = BrokerProfile {
            id: id.clone(),
            name,
            host: input.host.trim().to_owned(),
            port: input.port,
            tls: input.tls,
            ca_file: non_empty(input.ca_file),
            client_cert: non_empty(input.client_cert),
            client_key: non_empty(input.client_key),
            username: non_empty(input.username),
            topic_prefix: input.topic_prefix.trim().to_owned(),
            has_password,
            demo: false,
        };
        profile.link_profile()?;
        profile.prefix()?;
        if has_password && profile.username.is_none() {
            return Err(ProfileError::invalid(
                "a password needs a user name (MQTT sends no password without one)",
            ));
        }
        match new_password {
            Some(password) => self.keychain.set(&id, &password)?,
            None if input.clear_password => self.keychain.delete(&id)?,
            None => {}
        }
        match existing {
            Some(i) => all[i] = profile.clone(),
            None => all.push(profile.clone()),
        }
        self.write(&all)?;
        tracing::info!(profile = %profile.id, name = %profile.name, "broker profile saved");
        Ok(profile)
    }

    /// Removes a profile and its keychain entry.
    pub fn remove(&self, id: &str) -> Result<(), ProfileError> {
        let mut all = self.list()?;
        let Some(index) = all.iter().position(|p| p.id == id) else {
            return Err(ProfileError::NotFound(id.to_owned()));
        };
        if all.remove(index).has_password {
            self.keychain.delete(id)?;
        }
        self.write(&all)?;
        tracing::info!(profile = %id, "broker profile removed");
        Ok(())
    }

    /// The stored password of a profile that has one.
    pub fn password(&self, profile: &BrokerProfile) -> Result<Option<Password>, ProfileError> {
        if !profile.has_password {
            return Ok(None);
        }
        match self.keychain.get(&profile.id)? {
            Some(p) => Ok(Some(Password::new(p))),
            None => Err(ProfileError::PasswordGone(profile.name.clone())),
        }
    }

    /// Writes the whole file at once (a temporary file renamed over it).
    fn write(&self, all: &[BrokerProfile]) -> Result<(), ProfileError> {
        let fail = |e: std::io::Error| {
            ProfileError::Storage(format!("cannot write {}: {e}", self.path.display()))
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let text =
            serde_json::to_vec_pretty(all).map_err(|e| ProfileError::Storage(e.to_string()))?;
        write_private(&tmp, &text).map_err(fail)?;
        std::fs::rename(&tmp, &self.path).map_err(fail)
    }
}

/// Writes `path` readable by its owner only (0600 on Unix): the profiles name brokers, users
/// and certificate files. The rename keeps the mode.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // A leftover temporary file keeps its old mode through `open`: set it.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str) -> ProfileInput {
        ProfileInput {
            id: None,
            name: name.into(),
            host: "broker.store.example".into(),
            port: 8883,
            tls: true,
            ca_file: Some("/etc/ssl/store-ca.pem".into()),
            client_cert: None,
            client_key: None,
            username: Some("operator".into()),
            topic_prefix: String::new(),
            password: Some("s3cret-Pa55".into()),
            clear_password: false,
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_profiles_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(dir.path(), Keychain::new());
        let mut without_password = input("Store 7");
        without_password.password = None;
        store.save(without_password).unwrap();
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    /// Needs a keychain: `scripts/with-keychain.sh` provides one (Secret Service on D-Bus and a
    /// kernel session keyring).
    #[test]
    fn passwords_go_to_the_keychain_and_never_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(dir.path(), Keychain::new());
        let saved = store.save(input("Store 12")).unwrap();
        assert!(saved.has_password);
        assert_eq!(store.list().unwrap(), vec![saved.clone()]);

        let file = std::fs::read_to_string(store.path()).unwrap();
        assert!(!file.contains("s3cret-Pa55"), "password in {file}");
        assert!(file.contains("broker.store.example"));
        assert_eq!(
            store.password(&saved).unwrap(),
            Some(Password::new("s3cret-Pa55"))
        );

        // Editing without a password keeps the stored one; clearing removes it.
        let mut edit = input("Store 12 (edited)");
        edit.id = Some(saved.id.clone());
        edit.password = None;
        let edited = store.save(edit.clone()).unwrap();
        assert!(edited.has_password);
        assert_eq!(
            store.password(&edited).unwrap(),
            Some(Password::new("s3cret-Pa55"))
        );
        edit.clear_password = true;
        let cleared = store.save(edit).unwrap();
        assert!(!cleared.has_password);
        assert_eq!(Keychain::new().get(&saved.id).unwrap(), None);

        store.remove(&saved.id).unwrap();
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn removing_a_profile_removes_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(dir.path(), Keychain::new());
        let saved = store.save(input("Depot")).unwrap();
        store.remove(&saved.id).unwrap();
        assert_eq!(Keychain::new().get(&saved.id).unwrap(), None);
        assert!(matches!(
            store.remove(&saved.id).unwrap_err(),
            ProfileError::NotFound(_)
        ));
    }

    #[test]
    fn bad_profiles_are_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(dir.path(), Keychain::new());
        let mut plain_with_ca = input("x");
        plain_with_ca.tls = false;
        plain_with_ca.port = 1883;
        plain_with_ca.password = None;
        let mut no_user = input("y");
        no_user.username = Some("  ".into());
        let mut half_cert = input("z");
        half_cert.password = None;
        half_cert.client_cert = Some("/c.pem".into());
        let mut bad_host = input("w");
        bad_host.password = None;
        bad_host.host = "broker/x".into();
        let mut no_name = input(" ");
        no_name.password = None;
        let mut bad_prefix = input("v");
        bad_prefix.password = None;
        bad_prefix.topic_prefix = "site/#".into();
        for bad in [
            plain_with_ca,
            no_user,
            half_cert,
            bad_host,
            no_name,
            bad_prefix,
        ] {
            let err = store.save(bad.clone()).unwrap_err();
            assert!(matches!(err, ProfileError::Invalid(_)), "{bad:?}: {err}");
        }
        assert!(!store.path().exists());
    }

    #[test]
    fn the_demo_profile_is_read_only_and_debug_hides_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(dir.path(), Keychain::new());
        let mut demo = input("demo");
        demo.id = Some(DEMO_PROFILE_ID.into());
        assert!(matches!(
            store.save(demo.clone()).unwrap_err(),
            ProfileError::DemoReadOnly
        ));
        let shown = format!("{demo:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"));

        let profile = BrokerProfile::demo("mqtt://127.0.0.1:41883").unwrap();
        assert_eq!((profile.host.as_str(), profile.port), ("127.0.0.1", 41883));
        assert_eq!(profile.url(), "mqtt://127.0.0.1:41883");
    }
}
