//! Demo mode: an embedded broker, a small retail fleet on it, and a sample firmware file,
//! so a deployment can be shown on a laptop with nothing else installed. The CLI's
//! `storefleet demo` and the desktop app's demo mode both start it from here.
//!
//! The fleet is seeded (same ids and names every run, readable ids so people can type them)
//! and files are rewritten only when their content would change: a firmware file already
//! registered in the library must not turn stale because the demo restarted.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

use crate::protocol::Md5Hex;

use super::behaviour::SimConfig;
use super::broker::{BrokerError, EmbeddedBroker};
use super::csv::write_fleet_csv;
use super::duration::DurationRange;
use super::fleet::{Fleet, FleetError};
use super::names::{FleetShape, IdStyle, generate_fleet};
use super::rng::SimRng;

/// The demo's own history file, in its folder: demo work never mixes with real work.
pub const DEMO_HISTORY_FILE: &str = "history.sqlite";

/// The version the sample firmware carries.
pub const DEMO_FIRMWARE_VERSION: &str = "2.4.1";
/// The version the demo fleet runs before its first update.
pub const DEMO_FLEET_VERSION: &str = "2.3.0";
const FIRMWARE_BYTES: usize = 384 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("starting the embedded broker was interrupted: {0}")]
    Interrupted(String),
    #[error(transparent)]
    Fleet(#[from] FleetError),
}

/// What to start.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub stores: usize,
    pub controllers_per_store: usize,
    pub fail_rate: f64,
    /// Share of updates with a reboot mid-flash (3 to 10 s of silence).
    pub reboot_rate: f64,
    pub flash_time: DurationRange,
    /// Where the fleet CSV and the sample firmware go.
    pub dir: PathBuf,
    /// Broker port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub seed: u64,
}

impl DemoOptions {
    /// 4 stores of 6 controllers, 10% failures, 5% reboots (a reboot now and then makes the
    /// live view more interesting), 3 to 15 s of flashing.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            stores: 4,
            controllers_per_store: 6,
            fail_rate: 0.1,
            reboot_rate: 0.05,
            flash_time: DurationRange {
                min: Duration::from_secs(3),
                max: Duration::from_secs(15),
            },
            dir,
            port: 0,
            seed: 1,
        }
    }

    /// `storefleet/demo` in the platform data folder (beside the history), else in temp.
    pub fn default_dir() -> PathBuf {
        dirs::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("storefleet")
            .join("demo")
    }
}

/// The sample firmware file as a deployment needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoFirmware {
    pub path: PathBuf,
    pub version: String,
    pub size: u64,
    pub md5: Md5Hex,
}

/// A running demo. Dropping it stops the fleet; the broker lives until the process ends
/// (see [`EmbeddedBroker`]).
pub struct Demo {
    pub fleet: Fleet,
    pub broker: EmbeddedBroker,
    pub fleet_csv: PathBuf,
    pub firmware: DemoFirmware,
}

impl Demo {
    pub async fn start(options: &DemoOptions) -> Result<Self, DemoError> {
        let dir = &options.dir;
        std::fs::create_dir_all(dir).map_err(|source| DemoError::Io {
            path: dir.clone(),
            source,
        })?;
        let controllers = generate_fleet(&FleetShape {
            stores: options.stores,
            controllers_per_store: options.controllers_per_store,
            id_style: IdStyle::Readable,
            seed: options.seed,
        });
        let mut csv = Vec::new();
        write_fleet_csv(&mut csv, &controllers).expect("writing to memory cannot fail");
        let fleet_csv = dir.join("fleet.csv");
        write_if_changed(&fleet_csv, &csv)?;
        let bytes = sample_firmware();
        let firmware = DemoFirmware {
            path: dir.join(format!("storefleet-demo-{DEMO_FIRMWARE_VERSION}.bin")),
            version: DEMO_FIRMWARE_VERSION.to_owned(),
            size: bytes.len() as u64,
            md5: Md5Hex::from_digest(Md5::digest(&bytes).into()),
        };
        write_if_changed(&firmware.path, &bytes)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, options.port));
        // Starting waits (briefly) for the broker to answer: keep it off the async workers.
        let broker = tokio::task::spawn_blocking(move || EmbeddedBroker::start_on(addr))
            .await
            .map_err(|e| DemoError::Interrupted(e.to_string()))??;
        let config = SimConfig {
            fail_rate: options.fail_rate,
            reboot_rate: options.reboot_rate,
            reboot_time: DurationRange {
                min: Duration::from_secs(3),
                max: Duration::from_secs(10),
            },
            flash_time: options.flash_time,
            initial_version: DEMO_FLEET_VERSION.to_owned(),
            seed: options.seed,
            ..SimConfig::default()
        };
        let fleet = Fleet::start(&broker.url(), controllers, config).await?;
        Ok(Self {
            fleet,
            broker,
            fleet_csv,
            firmware,
        })
    }
}

/// A few hundred KiB of deterministic bytes behind a readable header.
pub fn sample_firmware() -> Vec<u8> {
    let mut bytes = format!("STOREFLEET DEMO FIRMWARE {DEMO_FIRMWARE_VERSION}\n").into_bytes();
    let mut rng = SimRng::new(0x5eed_f1a5);
    while bytes.len() < FIRMWARE_BYTES {
        bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    bytes.truncate(FIRMWARE_BYTES);
    bytes
}

/// Leaves an identical file alone: rewriting it would make a registered artifact stale.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), DemoError> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(|source| DemoError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_firmware_is_deterministic_and_labelled() {
        let a = sample_firmware();
        assert_eq!(a.len(), FIRMWARE_BYTES);
        assert!(a.starts_with(b"STOREFLEET DEMO FIRMWARE 2.4.1\n"));
        assert_eq!(a, sample_firmware());
    }

    #[test]
    fn identical_files_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        write_if_changed(&path, b"abc").unwrap();
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        write_if_changed(&path, b"abc").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
        write_if_changed(&path, b"abcd").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abcd");
    }
}
