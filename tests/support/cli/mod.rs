//! Helpers for the end-to-end tests of the `storefleet` CLI (`tests/deploy_*.rs`).
//!
//! - [`Workspace`]: a temp dir with the history (`--db`), firmware files and target CSVs, and
//!   the CLI binary run against them, in the foreground ([`Workspace::run`]) or in the
//!   background ([`Running`], whose stdout is collected line by line).
//! - [`Spy`]: a plain MQTT client that records every message on both topic families.
//! - [`check_command`]: DESIGN.md section 1 and the spec, applied to one command the spy saw.
//! - [`GatedServer`]: an HTTP server for `--base-url` that can hold simulated downloads.
//! - [`Scripted`]: a hand-driven controller that replies with exact bytes.
//! - Readers of the history tables with rusqlite.
//!
//! Use with `#[path = "support/cli/mod.rs"] mod cli;` (and `support/mosquitto.rs` beside it).

// Each test binary uses a different part of this support module.
#![allow(dead_code, unused_imports)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use storefleet::protocol::{Id, TopicPrefix, decode};
use storefleet::sim::{
    ControllerInfo, DurationRange, Fleet, FleetShape, IdStyle, SimConfig, generate_fleet,
    write_fleet_csv_file,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The CLI under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_storefleet");

/// The longest a single wait may take before a test gives up.
pub const WAIT: Duration = Duration::from_secs(30);

pub const ACTION_FILTER: &str = "/stores/+/controllers/+/action";
pub const ACK_FILTER: &str = "/stores/+/controllers/+/ack";

mod fleet;
mod gated_server;
mod history;
mod process;
mod scripted;
mod spec_checks;
mod spy;

pub use fleet::*;
pub use gated_server::*;
pub use history::*;
pub use process::*;
pub use scripted::*;
pub use spec_checks::*;
pub use spy::*;
