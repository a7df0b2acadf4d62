//! The `storefleet` command line: a thin adapter over the core.
//!
//! Exit codes (DESIGN.md section 6): 0 every target completed, or the command succeeded;
//! 3 the deployment finished with a target not completed; 4 the wait ended because the
//! deployment paused (rollout policy or operator); 2 refused input (bad option,
//! missing or changed file, unknown id, a URL that does not serve the firmware), with a
//! one-line reason on stderr and nothing published; 1 any other error.

#[macro_use]
mod stdout;
mod broker;
mod demo;
mod deploy;
mod failure;
mod firmware;
mod fleet;
mod follow;
mod inspect;
mod live;
mod policy_args;
mod report;
mod reserve;
mod schedule_args;
mod sim;
mod terminal;
mod upkeep;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use storefleet::history::History;

use failure::Failure;

#[derive(Parser)]
#[command(name = "storefleet", version = storefleet::VERSION, about = "Roll firmware out to store controllers over MQTT")]
struct Cli {
    /// The history file (default: history.sqlite in the platform data folder, shared with
    /// the desktop app).
    #[arg(long, global = true, env = "STOREFLEET_DB", value_name = "PATH")]
    db: Option<PathBuf>,

    #[command(flatten)]
    broker: broker::BrokerArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send a firmware to controllers and follow the deployment.
    Deploy(deploy::DeployArgs),
    /// Cancel a deployment's unfinished targets.
    Cancel(live::CancelArgs),
    /// Send failed and timed-out targets a new attempt.
    Retry(live::RetryArgs),
    /// Pause a deployment: nothing new is sent until `resume` (no broker needed).
    Pause(live::PauseArgs),
    /// Resume a paused deployment (and start its next wave) and drive it.
    Resume(live::ResumeArgs),
    /// Print one deployment's status as JSON (reads the history only; no broker needed).
    Status {
        deployment_id: String,
        /// Accepted for symmetry with the other commands: status always prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// List past and running deployments.
    Deployments {
        #[arg(long)]
        json: bool,
    },
    /// Follow every deployment's events live until Ctrl-C.
    Watch(live::WatchArgs),
    /// Export a deployment: a CSV row per target, the raw message log as JSON Lines, or a
    /// one-file HTML report for stakeholders.
    Export {
        deployment_id: String,
        #[arg(long, value_enum, default_value = "csv")]
        format: inspect::ExportFormat,
    },
    /// Remove finished deployments older than a date (archived first with --archive), then
    /// vacuum; without --yes, only say what would go.
    Prune(upkeep::PruneArgs),
    /// Firmware files: register and hash them, serve them, check where they are hosted.
    #[command(subcommand)]
    Firmware(firmware::FirmwareCommand),
    /// The inventory of controllers: import a CSV, add by hand, list.
    #[command(subcommand)]
    Fleet(fleet::FleetCommand),
    /// Run simulated controllers against a broker.
    Sim(sim::Args),
    /// Start an embedded broker and a simulated fleet for a demonstration.
    Demo(demo::Args),
}

/// glibc's malloc with at most two arenas. By default each thread that allocates (the link,
/// the owner, the writer, tokio's workers) gets an arena of its own, and memory freed in one
/// is kept there for that thread: after a 100,000-target deployment the resident size stayed
/// near twice the heap. Measured (fleet bench, one round, 10,000 / 100,000 targets, peak RSS):
/// glibc default 59 / 143 MiB, mimalloc default 141 / 213 MiB, two arenas 59 / 130 MiB at the
/// same CPU time (BENCHMARKS.md, session 6). mimalloc met the target only with options set in
/// the environment before it starts, which a program cannot do for itself.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: a plain setter of glibc's allocator, called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> ExitCode {
    tune_allocator();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STOREFLEET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rumqttd=off")),
        )
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap's own output, exit 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // Refused input gets one line, not clap's usage block.
            let text = e.to_string();
            let line = text
                .lines()
                .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("storefleet: {}", line.trim_start_matches("error: "));
            return ExitCode::from(failure::REFUSED);
        }
    };
    let result = match cli.command {
        Command::Sim(args) => return sim::run(args, cli.broker.broker, cli.broker.topic_prefix),
        Command::Demo(args) => return demo::run(args),
        command => run(command, cli.db, &cli.broker),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) if failure.message.is_empty() => ExitCode::from(failure.code),
        Err(failure) => {
            eprintln!("storefleet: {}", terminal::shown(&failure.message));
            ExitCode::from(failure.code)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::from)
}

fn run(command: Command, db: Option<PathBuf>, broker: &broker::BrokerArgs) -> Result<u8, Failure> {
    let db = db.or_else(History::default_path).ok_or_else(|| {
        Failure::refused("this system has no data folder for the history; pass --db PATH")
    })?;
    let db: &Path = &db;
    match command {
        Command::Deploy(args) => runtime()?.block_on(deploy::run(args, db, broker)),
        Command::Cancel(args) => runtime()?.block_on(live::cancel(args, db, broker)),
        Command::Retry(args) => runtime()?.block_on(live::retry(args, db, broker)),
        Command::Pause(args) => runtime()?.block_on(live::pause(args, db)),
        Command::Resume(args) => runtime()?.block_on(live::resume(args, db, broker)),
        Command::Watch(args) => runtime()?.block_on(live::watch(args, db, broker)),
        Command::Status { deployment_id, .. } => inspect::status(db, &deployment_id),
        Command::Deployments { json } => inspect::deployments(db, json),
        Command::Export {
            deployment_id,
            format,
        } => inspect::export(db, &deployment_id, format),
        Command::Prune(args) => upkeep::prune(args, db),
        Command::Firmware(cmd) => firmware::run(cmd, db).map(|()| 0),
        Command::Fleet(cmd) => fleet::run(cmd, db),
        Command::Sim(_) | Command::Demo(_) => unreachable!("handled before the history opens"),
    }
}
