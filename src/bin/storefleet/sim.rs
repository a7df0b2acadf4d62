//! `storefleet sim`: simulated store controllers on a broker, until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use storefleet::protocol::TopicPrefix;
use storefleet::sim::{
    DurationRange, Fleet, FleetError, FleetShape, IdStyle, SimConfig, SimRng, generate_fleet,
    write_fleet_csv_file,
};

/// Simulate N stores with M controllers each, following the firmware-update protocol.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of stores.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub stores: u32,
    /// Controllers in each store.
    #[arg(long, default_value_t = 6, value_name = "M", value_parser = clap::value_parser!(u32).range(1..))]
    pub controllers_per_store: u32,
    /// Share of updates that fail after flashing (0 to 1).
    #[arg(long, default_value_t = 0.05, value_name = "F", value_parser = parse_rate)]
    pub fail_rate: f64,
    /// Share of controllers that never answer (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_rate)]
    pub silent_rate: f64,
    /// Share of updates during which the controller reboots mid-flash (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_rate)]
    pub reboot_rate: f64,
    /// How long flashing takes, drawn per update (e.g. 2s..10s, or 500ms for a constant).
    #[arg(long, default_value = "2s..10s", value_name = "DUR..DUR")]
    pub flash_time: DurationRange,
    /// How long a reboot keeps a controller quiet.
    #[arg(long, default_value = "5s..20s", value_name = "DUR..DUR")]
    pub reboot_time: DurationRange,
    /// Write the fleet as CSV (store_id,controller_id,store_name,controller_name), the
    /// format `deploy --targets-csv` reads.
    #[arg(long, value_name = "FILE")]
    pub write_fleet: Option<PathBuf>,
    /// Seed for ids, names and every random draw (default: a fresh one, printed at exit).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Controller and store ids: random UUIDs or readable (store-0001, ctrl-0001-01).
    #[arg(long, value_enum, default_value_t = Ids::Uuid)]
    pub ids: Ids,
    /// Firmware version every controller runs at start.
    #[arg(long, default_value = "1.0.0", value_name = "VERSION")]
    pub initial_version: String,
    /// Firmware downloads in flight at once across the fleet.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub download_concurrency: u32,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ids {
    Uuid,
    Readable,
}

impl From<Ids> for IdStyle {
    fn from(ids: Ids) -> Self {
        match ids {
            Ids::Uuid => IdStyle::Uuid,
            Ids::Readable => IdStyle::Readable,
        }
    }
}

pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("{text:?} is not a rate between 0 and 1")),
    }
}

/// `broker` is the global `--broker` (or `STOREFLEET_BROKER`), `topic_prefix` the global
/// `--topic-prefix`: the simulated fleet uses the topics a deployment with that prefix does.
pub fn run(args: Args, broker: Option<String>, topic_prefix: Option<String>) -> ExitCode {
    let prefix = match TopicPrefix::new(topic_prefix.unwrap_or_default().trim()) {
        Ok(p) => p,
        Err(e) => return fail(2, &format!("--topic-prefix: {e}")),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(1, &format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(simulate(args, broker, prefix))
}

async fn simulate(args: Args, broker: Option<String>, prefix: TopicPrefix) -> ExitCode {
    let Some(broker) = broker else {
        return fail(
            2,
            "no broker: pass --broker mqtt://HOST:PORT or set STOREFLEET_BROKER",
        );
    };
    let seed = args.seed.unwrap_or_else(SimRng::fresh_seed);
    let controllers = generate_fleet(&FleetShape {
        stores: args.stores as usize,
        controllers_per_store: args.controllers_per_store as usize,
        id_style: args.ids.into(),
        seed,
    });
    if let Some(path) = &args.write_fleet
        && let Err(e) = write_fleet_csv_file(path, &controllers)
    {
        return fail(
            1,
            &format!("cannot write the fleet to {}: {e}", path.display()),
        );
    }
    let config = SimConfig {
        fail_rate: args.fail_rate,
        silent_rate: args.silent_rate,
        reboot_rate: args.reboot_rate,
        reboot_time: args.reboot_time,
        flash_time: args.flash_time,
        initial_version: args.initial_version,
        download_concurrency: args.download_concurrency as usize,
        seed,
        prefix,
        ..SimConfig::default()
    };
    let fleet = match Fleet::start(&broker, controllers, config).await {
        Ok(fleet) => fleet,
        Err(e @ FleetError::BrokerUrl(_)) => return fail(2, &e.to_string()),
        Err(e) => return fail(1, &e.to_string()),
    };
    eprintln!(
        "simulating {} controllers in {} stores on {} (seed {seed}); Ctrl-C to stop",
        fleet.stats().controllers,
        fleet.stats().stores,
        broker
    );
    if let Some(path) = &args.write_fleet {
        eprintln!("fleet CSV: {}", path.display());
    }
    interrupted().await;
    let stats = fleet.shutdown(Duration::from_secs(2)).await;
    outln!("sim: {stats}; seed {seed}");
    ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM where there is one (a service manager or a test stopping us).
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("storefleet: {message}");
    ExitCode::from(code)
}
