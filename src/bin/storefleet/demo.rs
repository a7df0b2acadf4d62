//! `storefleet demo`: an embedded broker, a small retail fleet and a sample firmware file
//! (the core's `sim::Demo`), printed for the operator, until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use storefleet::sim::{Demo, DemoOptions, DurationRange};

use crate::sim::{interrupted, parse_rate};

/// Start an embedded broker and a simulated fleet for a demonstration.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of stores.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub stores: u32,
    /// Controllers in each store.
    #[arg(long, default_value_t = 6, value_name = "M", value_parser = clap::value_parser!(u32).range(1..))]
    pub controllers_per_store: u32,
    /// Share of updates that fail after flashing (0 to 1).
    #[arg(long, default_value_t = 0.1, value_name = "F", value_parser = parse_rate)]
    pub fail_rate: f64,
    /// How long flashing takes, drawn per update.
    #[arg(long, default_value = "3s..15s", value_name = "DUR..DUR")]
    pub flash_time: DurationRange,
    /// Where to write the fleet CSV and the sample firmware (default: storefleet/demo in
    /// the platform data folder).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Broker port on 127.0.0.1 (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Seed for the fleet's ids, names and behaviour.
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,
}

pub fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(demo(args))
}

async fn demo(args: Args) -> ExitCode {
    let options = DemoOptions {
        stores: args.stores as usize,
        controllers_per_store: args.controllers_per_store as usize,
        fail_rate: args.fail_rate,
        flash_time: args.flash_time,
        port: args.port,
        seed: args.seed,
        ..DemoOptions::new(args.dir.unwrap_or_else(DemoOptions::default_dir))
    };
    let demo = match Demo::start(&options).await {
        Ok(demo) => demo,
        Err(e) => return fail(&e.to_string()),
    };
    let fw = &demo.firmware;
    let url = demo.broker.url();
    // The demo's own history: nothing of it mixes with real work.
    let history = options.dir.join(storefleet::sim::DEMO_HISTORY_FILE);
    // One fact per line, `name: value`, so scripts and tests can read them.
    outln!(
        "Storefleet demo: {} simulated controllers in {} stores.",
        demo.fleet.controllers().len(),
        args.stores
    );
    outln!("broker: {url}");
    outln!("fleet CSV: {}", demo.fleet_csv.display());
    outln!("history: {}", history.display());
    outln!("firmware: {}", fw.path.display());
    outln!(
        "firmware version: {} ({} bytes, MD5 {})",
        fw.version,
        fw.size,
        fw.md5
    );
    outln!("Deploy it from another terminal:");
    outln!(
        "  storefleet --db {} deploy --broker {url} --firmware {} --version {} --targets-csv {} --wait",
        history.display(),
        fw.path.display(),
        fw.version,
        demo.fleet_csv.display()
    );
    outln!("Ctrl-C stops the demo.");
    interrupted().await;
    let Demo { fleet, broker, .. } = demo;
    let stats = fleet.shutdown(Duration::from_secs(2)).await;
    outln!("demo: {stats}");
    // rumqttd cannot be stopped; the broker ends with the process.
    let _ = broker;
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("storefleet: {message}");
    ExitCode::from(1)
}
