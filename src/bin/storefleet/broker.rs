//! `--broker URL` and its credentials: where the controllers' MQTT broker is and how to
//! trust it.

use std::path::{Path, PathBuf};

use storefleet::history::BrokerIdentity;
use storefleet::link::{
    BrokerAddress, BrokerProfile, ClientCertFiles, DEFAULT_INFLIGHT, Password, TlsFiles,
};
use storefleet::profiles::{self, Keychain, ProfileStore};
use storefleet::protocol::TopicPrefix;
use storefleet::service::{BrokerSettings, ServiceConfig};

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
    /// A broker profile of the desktop app, by name or id: its broker, TLS files, user name and
    /// topic prefix, with the password from the OS keychain (instead of --broker and the rest).
    #[arg(long, global = true, env = "STOREFLEET_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Put before every topic (PREFIX/stores/...), for a broker shared with other systems
    /// (default: the spec's topics, or the profile's prefix). Kept with each deployment.
    #[arg(
        long,
        global = true,
        env = "STOREFLEET_TOPIC_PREFIX",
        value_name = "PREFIX"
    )]
    pub topic_prefix: Option<String>,
}

/// The broker a command talks to, and what its deployments are kept under.
pub struct Chosen {
    pub settings: BrokerSettings,
    pub prefix: TopicPrefix,
    /// The desktop profile used, as a label on the deployments made.
    pub profile: Option<String>,
}

impl Chosen {
    pub fn service_config(self, db: &Path) -> ServiceConfig {
        let identity = self.profile.as_ref().map(|name| {
            BrokerIdentity::new(&self.settings.profile.broker, &self.prefix).with_profile(name)
        });
        ServiceConfig {
            history: db.to_path_buf(),
            broker: Some(self.settings),
            topic_prefix: self.prefix,
            identity,
        }
    }
}

fn prefix(text: &str) -> Result<TopicPrefix, Failure> {
    TopicPrefix::new(text.trim())
        .map_err(|e| Failure::refused(format!("--topic-prefix {text:?}: {e}")))
}

impl BrokerArgs {
    /// The topic prefix given, checked; `None` when none is.
    pub fn prefix(&self) -> Result<Option<TopicPrefix>, Failure> {
        self.topic_prefix.as_deref().map(prefix).transpose()
    }

    /// The broker from `--profile`, or from `--broker` and its options; refused when neither
    /// is given, both are, or anything is wrong with them.
    pub fn choose(&self) -> Result<Chosen, Failure> {
        match &self.profile {
            Some(name) => self.saved_profile(name),
            None => Ok(Chosen {
                settings: self.settings()?,
                prefix: self.prefix()?.unwrap_or_default(),
                profile: None,
            }),
        }
    }

    fn saved_profile(&self, name: &str) -> Result<Chosen, Failure> {
        if self.broker.is_some()
            || self.ca_file.is_some()
            || self.client_cert.is_some()
            || self.username.is_some()
        {
            return Err(Failure::refused(
                "--profile names the broker and its login: leave out --broker, --ca-file, --client-cert and --username (and their STOREFLEET_ variables)",
            ));
        }
        let dir = std::env::var_os("STOREFLEET_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(profiles::default_dir)
            .ok_or_else(|| Failure::refused("--profile: this system has no config folder"))?;
        let store = ProfileStore::new(&dir, Keychain::new());
        let fail = |e: profiles::ProfileError| Failure::refused(format!("--profile {name:?}: {e}"));
        let saved = store.find(name).map_err(fail)?;
        let password = store.password(&saved).map_err(fail)?;
        let prefix = match self.prefix()? {
            Some(p) => p,
            None => saved.prefix().map_err(fail)?,
        };
        Ok(Chosen {
            settings: BrokerSettings {
                profile: saved.link_profile().map_err(fail)?,
                password,
                inflight: DEFAULT_INFLIGHT,
            },
            prefix,
            profile: Some(saved.name),
        })
    }

    /// The broker settings from `--broker` and its options, refused when no broker is given
    /// or the URL is bad.
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
