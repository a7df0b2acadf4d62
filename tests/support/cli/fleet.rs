//! Test support: the fleet.

use super::*;

/// A simulated fleet shape with readable or UUID ids.
pub fn controllers(
    stores: usize,
    per_store: usize,
    style: IdStyle,
    seed: u64,
) -> Vec<ControllerInfo> {
    generate_fleet(&FleetShape {
        stores,
        controllers_per_store: per_store,
        id_style: style,
        seed,
    })
}

pub fn sim_config(flash: (u64, u64), fail_rate: f64, seed: u64) -> SimConfig {
    SimConfig {
        fail_rate,
        flash_time: DurationRange {
            min: Duration::from_millis(flash.0),
            max: Duration::from_millis(flash.1),
        },
        seed,
        ..SimConfig::default()
    }
}

pub async fn start_fleet(url: &str, controllers: &[ControllerInfo], config: SimConfig) -> Fleet {
    Fleet::start(url, controllers.to_vec(), config)
        .await
        .expect("the simulated fleet connects")
}

pub fn key(c: &ControllerInfo) -> (String, String) {
    (c.store_id.to_string(), c.controller_id.to_string())
}
