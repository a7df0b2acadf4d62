//! `--broker URL`: where the controllers' MQTT broker is.

use storefleet::link::{BrokerAddress, BrokerProfile, DEFAULT_INFLIGHT};
use storefleet::service::BrokerSettings;

use crate::failure::Failure;

/// The broker settings from `--broker` (or `STOREFLEET_BROKER`), refused when missing.
pub fn settings(url: Option<&str>) -> Result<BrokerSettings, Failure> {
    let url = url.ok_or_else(|| {
        Failure::refused("no broker: pass --broker mqtt://HOST:PORT or set STOREFLEET_BROKER")
    })?;
    let address: BrokerAddress = url
        .parse()
        .map_err(|e| Failure::refused(format!("--broker {url:?}: {e}")))?;
    Ok(BrokerSettings {
        profile: BrokerProfile::new(address),
        password: None,
        inflight: DEFAULT_INFLIGHT,
    })
}
