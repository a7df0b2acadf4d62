//! Simulated controllers and an embedded broker, for demonstrations, tests and benchmarks.
//!
//! A [`Fleet`] is N stores with M controllers each behind one MQTT connection. Every
//! controller follows `spec/firmware-update-protocol.md`: it acks `update_firmware`, really
//! downloads `file_url` and checks its size and MD5, flashes for a random time, then
//! completes or fails; it honours cancels, and can be silent, offline or reboot mid-update
//! (see `controller.rs` for the decisions the spec leaves open). Every message goes through
//! the protocol codec. Timing uses the real clock; every random draw comes from
//! [`SimConfig::seed`], so a seeded run repeats.
//!
//! [`EmbeddedBroker`] is rumqttd on a loopback port, for a laptop with nothing installed;
//! [`Demo`] puts a broker, a small retail fleet and a sample firmware file together.

mod behaviour;
mod broker;
mod controller;
mod csv;
mod demo;
mod download;
mod duration;
mod fleet;
mod mqtt;
mod names;
mod rng;
mod stats;

pub use behaviour::{Behaviour, Outcome, SimConfig, flash_errors};
pub use broker::{BrokerError, EmbeddedBroker, MAX_PAYLOAD};
pub use controller::{ControllerStatus, Phase};
pub use csv::{FLEET_CSV_HEADER, write_fleet_csv, write_fleet_csv_file};
pub use demo::{
    DEMO_FIRMWARE_VERSION, DEMO_FLEET_VERSION, DEMO_HISTORY_FILE, Demo, DemoError, DemoFirmware,
    DemoOptions, sample_firmware,
};
pub use download::{DownloadError, Downloader};
pub use duration::{DurationError, DurationRange, format_duration, parse_duration};
pub use fleet::{Fleet, FleetError};
pub use mqtt::{BrokerUrl, BrokerUrlError};
pub use names::{ControllerInfo, FleetShape, IdStyle, generate_fleet};
pub use rng::SimRng;
pub use stats::FleetStats;
