//! A small fleet on a broker with a driver and a firmware server: the rig every
//! failure-mode scenario starts from, and a macro that runs a scenario on both brokers.

use std::time::{Duration, Instant};

use storefleet::sim::{
    ControllerInfo, DurationRange, Fleet, FleetShape, IdStyle, Phase, SimConfig, generate_fleet,
};

use super::{Driver, Firmware, FirmwareServer, TestBroker, firmware_bytes, of, unique_prefix};

pub const SLOW_DOWNLOAD: Duration = Duration::from_millis(1500);

pub struct Rig {
    pub fleet: Fleet,
    pub driver: Driver,
    pub server: FirmwareServer,
    pub targets: Vec<ControllerInfo>,
    pub fw: Firmware,
    // Last: the broker outlives the clients.
    _broker: TestBroker,
}

pub async fn rig(broker: TestBroker, name: &str, tweak: impl FnOnce(&mut SimConfig)) -> Rig {
    let prefix = unique_prefix(name);
    let server = FirmwareServer::start(vec![
        ("good.bin", firmware_bytes(32 * 1024, 1), Duration::ZERO),
        ("slow.bin", firmware_bytes(32 * 1024, 2), SLOW_DOWNLOAD),
    ])
    .await;
    let fw = server.firmware("good.bin", "2.0.0");
    let targets = generate_fleet(&FleetShape {
        stores: 1,
        controllers_per_store: 3,
        id_style: IdStyle::Readable,
        seed: 3,
    });
    let mut config = SimConfig {
        flash_time: DurationRange {
            min: Duration::from_millis(50),
            max: Duration::from_millis(150),
        },
        prefix: prefix.clone(),
        seed: 3,
        ..SimConfig::default()
    };
    tweak(&mut config);
    let fleet = Fleet::start(&broker.url(), targets.clone(), config)
        .await
        .expect("fleet connects");
    let driver = Driver::connect(&broker.url(), &prefix).await;
    Rig {
        fleet,
        driver,
        server,
        targets,
        fw,
        _broker: broker,
    }
}

impl Rig {
    pub fn version(&self, target: &ControllerInfo) -> String {
        self.fleet
            .firmware_version(&target.store_id, &target.controller_id)
            .unwrap()
    }

    pub fn phase(&self, target: &ControllerInfo) -> Phase {
        self.fleet
            .status(&target.store_id, &target.controller_id)
            .unwrap()
            .phase
    }

    /// Waits until `target` has sent a reply of this kind; returns when it arrived.
    pub async fn reply(
        &mut self,
        target: &ControllerInfo,
        event_type: &str,
        within: Duration,
    ) -> Instant {
        let t = target.clone();
        let got = self
            .driver
            .collect(within, |seen| !of(seen, &t, event_type).is_empty())
            .await;
        assert!(
            got,
            "no {event_type} from {} within {within:?}",
            t.controller_id
        );
        Instant::now()
    }

    /// Waits until `target` is in `phase`.
    pub async fn wait_for_phase(&self, target: &ControllerInfo, phase: Phase) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.phase(target) != phase {
            assert!(Instant::now() < deadline, "never reached {phase:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
