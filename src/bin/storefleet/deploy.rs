//! `storefleet deploy`: one firmware to many controllers.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use storefleet::durations::parse_duration;
use storefleet::engine::{TargetKey, plan_waves};
use storefleet::firmware::{
    ArtifactMonitor, DEFAULT_BIND, Deployable, DownloadRecord, FirmwareServer, Library,
    LibraryError, ServerConfig,
};
use storefleet::fleet::read_targets_csv;
use storefleet::history::{DownloadWriter, History};
use storefleet::link::LinkState;
use storefleet::protocol::Id;
use storefleet::service::Service;
use storefleet::service::new_deployment::{FileSource, NewDeployment, prepare};

use crate::failure::{Failure, INCOMPLETE, PAUSED};
use crate::follow::{Ended, Until, first_contact, follow};
use crate::policy_args::PolicyArgs;
use crate::report::{Reporter, load_row};
use crate::schedule_args::ScheduleArgs;

#[derive(clap::Args)]
pub struct DeployArgs {
    /// The firmware file; it is hashed (MD5, size) and kept in the library.
    #[arg(long, value_name = "PATH")]
    firmware: PathBuf,
    /// The firmware version the controllers are told about.
    #[arg(long)]
    version: String,
    /// A target controller, as STORE_ID/CONTROLLER_ID (repeat for more).
    #[arg(long = "target", value_name = "STORE/CONTROLLER")]
    targets: Vec<String>,
    /// A CSV of targets with a header line `store_id,controller_id` (more columns allowed).
    #[arg(long, value_name = "FILE")]
    targets_csv: Option<PathBuf>,
    /// Every controller the inventory knows in this store (`storefleet fleet list`); repeat
    /// for more. Combines with --target and --targets-csv.
    #[arg(long = "store", value_name = "STORE_ID")]
    stores: Vec<String>,
    /// Serve the file from this process on ADDR:PORT (port 0: a free one). The default
    /// without --base-url is 0.0.0.0:7380.
    #[arg(long, value_name = "ADDR:PORT", conflicts_with = "base_url")]
    serve: Option<SocketAddr>,
    /// With the built-in server: the host or IP put in the URL (default: the bind address,
    /// or this machine's first non-loopback IPv4 address).
    #[arg(long, value_name = "HOST", conflicts_with = "base_url")]
    advertise: Option<String>,
    /// The file is hosted elsewhere, under this URL (the file name is appended unless the URL
    /// ends with it). It is downloaded and checked (size, MD5) before anything is sent.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Time a controller has to acknowledge, counted from sending.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DUR")]
    ack_timeout: Duration,
    /// Time a controller has to report completion or failure, counted from sending.
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DUR")]
    timeout: Duration,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Wait until every target has finished (exit 0 only if all completed) or the
    /// deployment pauses (exit 4).
    #[arg(long)]
    wait: bool,
    /// Print JSON Lines on stdout: the deployment, each target change, then a summary.
    #[arg(long)]
    json: bool,
    /// Check everything and print when each store's targets would go; send nothing.
    #[arg(long)]
    review: bool,
    /// Leave out controllers the inventory says already run this version.
    #[arg(long)]
    skip_current: bool,
}

fn parse_target(text: &str) -> Result<TargetKey, Failure> {
    let refused = |why: String| Failure::refused(format!("--target {text:?}: {why}"));
    let (store, controller) = text
        .split_once('/')
        .ok_or_else(|| refused("write it as STORE_ID/CONTROLLER_ID".into()))?;
    let store_id = Id::new(store).map_err(|e| refused(format!("store id: {e}")))?;
    let controller_id = Id::new(controller).map_err(|e| refused(format!("controller id: {e}")))?;
    Ok(TargetKey::new(store_id, controller_id))
}

fn collect_targets(args: &DeployArgs, db: &Path) -> Result<Vec<TargetKey>, Failure> {
    let mut targets = args
        .targets
        .iter()
        .map(|t| parse_target(t))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = &args.targets_csv {
        let file = std::fs::File::open(path)
            .map_err(|e| Failure::refused(format!("--targets-csv {}: {e}", path.display())))?;
        let more = read_targets_csv(std::io::BufReader::new(file))
            .map_err(|e| Failure::refused(format!("--targets-csv {}: {e}", path.display())))?;
        targets.extend(more);
    }
    if !args.stores.is_empty() {
        targets.extend(store_targets(&args.stores, &targets, db)?);
    }
    if targets.is_empty() {
        return Err(Failure::refused(
            "no targets: pass --target STORE/CONTROLLER, --targets-csv FILE or --store STORE_ID",
        ));
    }
    Ok(targets)
}

/// Every known controller of each `--store`, in store order, leaving out targets already
/// named another way. A store the inventory has no controller in is refused.
fn store_targets(
    stores: &[String],
    named: &[TargetKey],
    db: &Path,
) -> Result<Vec<TargetKey>, Failure> {
    let history = History::open(db)?;
    let mut seen: HashSet<TargetKey> = named.iter().cloned().collect();
    let mut out = Vec::new();
    for store in stores {
        let store_id = Id::new(store.as_str())
            .map_err(|e| Failure::refused(format!("--store {store:?}: {e}")))?;
        let controllers = history.store_controllers(store_id.as_str())?;
        if controllers.is_empty() {
            return Err(Failure::refused(format!(
                "--store {store}: no known controllers in this store (see storefleet fleet list)"
            )));
        }
        out.extend(controllers.into_iter().filter(|k| seen.insert(k.clone())));
    }
    Ok(out)
}

/// The library's artifact for this file and version, hashed now if it is new or changed.
fn deployable(library: &Library, path: &Path, version: &str) -> Result<Deployable, Failure> {
    let canonical = std::fs::canonicalize(path)
        .map_err(|e| Failure::refused(format!("--firmware {}: {e}", path.display())))?;
    let existing = library.history().artifact_by_path(&canonical)?;
    let id = match existing {
        Some(a) if a.version != version => {
            return Err(Failure::refused(format!(
                "{} is in the library as version {:?}, not {version:?}: remove it first (storefleet firmware remove {})",
                canonical.display(),
                a.version,
                a.id
            )));
        }
        Some(a) => a.id,
        None => library.add(&canonical, version, None, &mut |_| {})?.id,
    };
    match library.ensure_deployable(id) {
        Ok(d) => Ok(d),
        // The user named this file now: hash it again rather than refuse.
        Err(LibraryError::Stale { .. }) => {
            library.rehash(id, &mut |_| {})?;
            Ok(library.ensure_deployable(id)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// What a file name may not carry raw inside one URL path segment.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

fn external_url(base: &str, file_name: &str) -> String {
    if base.ends_with(&format!("/{file_name}")) {
        base.to_owned()
    } else {
        let name = percent_encoding::utf8_percent_encode(file_name, PATH_SEGMENT);
        format!("{}/{name}", base.trim_end_matches('/'))
    }
}

pub async fn run(
    args: DeployArgs,
    db: &Path,
    broker: &crate::broker::BrokerArgs,
) -> Result<u8, Failure> {
    let targets = collect_targets(&args, db)?;
    let policy = args.policy.policy()?;
    let broker = broker.choose()?;
    let reporter = Reporter::new(args.json);
    let library = Library::open(db)?;
    let deployable = deployable(&library, &args.firmware, &args.version)?;
    let artifact = deployable.artifact().clone();

    // Kept alive until the command ends: the controllers download from it.
    let mut _server = None;
    let mut _downloads = None;
    let mut _watcher = None;
    let source = match &args.base_url {
        Some(base) => FileSource::External {
            url: external_url(base, &artifact.file_name()),
        },
        None => {
            let writer = Arc::new(DownloadWriter::start(db)?);
            let sink = Arc::clone(&writer);
            let server = FirmwareServer::start(
                ServerConfig {
                    bind: args.serve.unwrap_or(DEFAULT_BIND),
                    advertise: args.advertise.clone(),
                },
                Arc::new(move |record: DownloadRecord| sink.record(record)),
            )
            .await?;
            let url = server.publish(&deployable);
            _server = Some(server);
            _downloads = Some(writer);
            // The file must stay what was hashed while controllers download it: a change is
            // marked stale in the history at once (the server already refuses to serve a
            // changed file, and later deployments and retries of it are refused).
            let (served, path) = (artifact.id, artifact.path.display().to_string());
            _watcher = ArtifactMonitor::start(db, move |stale| {
                if stale != served {
                    return;
                }
                eprintln!(
                    "storefleet: warning: {path} changed after it was hashed: it is no longer served; rehash it and retry the targets that did not get it"
                );
            })
            .map_err(|e| eprintln!("storefleet: warning: the firmware file is not watched: {e}"))
            .ok();
            FileSource::BuiltIn { url }
        }
    };

    let prepared = prepare(
        &library,
        NewDeployment {
            artifact_id: artifact.id,
            source,
            targets,
            ack_timeout: args.ack_timeout,
            completion_timeout: args.timeout,
            policy,
            schedule: args.schedule.request(),
            skip_current: args.skip_current,
        },
    )?;
    prepared.preflight().await?;
    let store_plan = prepared.plan.clone();
    let skipped = prepared.skipped.len();
    let scheduled = prepared.spec.policy.schedule.is_some();
    if args.review {
        reporter.line(&json!({
            "event": "review",
            "targets": prepared.spec.targets.len(),
            "skipped_current": skipped,
            "waves": plan_waves(prepared.spec.targets.len(), &prepared.spec.policy),
            "stores": store_plan,
        }));
        reporter.human(&format!(
            "review: firmware {} to {} targets in {} stores; nothing sent",
            prepared.spec.firmware.firmware_version,
            prepared.spec.targets.len(),
            store_plan.len()
        ));
        if skipped > 0 {
            reporter.human(&format!(
                "  {skipped} controllers already on {} are left out",
                prepared.spec.firmware.firmware_version
            ));
        }
        for store in &store_plan {
            reporter.human(&format!("  {}", crate::terminal::shown(&store.text)));
        }
        return Ok(0);
    }
    let spec = prepared.spec;
    let mut service = Service::start(broker.service_config(db)).await?;
    // Connect first: a refused login makes nothing that could go out by surprise later.
    if let Err(refused) = first_contact(&service).await {
        service.shutdown().await;
        return Err(refused);
    }
    let mut events = service.subscribe();
    let summary = service.deploy(spec).await?;
    let id = summary.deployment_id.clone();
    let waves = plan_waves(summary.total, &summary.policy);
    reporter.line(&json!({
        "event": "deployment",
        "deployment_id": id.as_str(),
        "firmware_version": summary.firmware_version,
        "file_url": summary.file_url,
        "file_size": summary.file_size,
        "checksum": summary.checksum,
        "targets": summary.total,
        "skipped_current": skipped,
        "policy": summary.policy,
        "waves": waves,
    }));
    reporter.human(&format!(
        "deployment {id}: firmware {} to {} targets from {}",
        summary.firmware_version, summary.total, summary.file_url
    ));
    if skipped > 0 {
        reporter.human(&format!(
            "{skipped} controllers already on {} left out",
            summary.firmware_version
        ));
    }
    if waves.len() > 1 {
        reporter.human(&format!("waves (canary first): {}", plan_text(&waves)));
    }
    if scheduled {
        reporter.line(&json!({
            "event": "plan",
            "deployment_id": id.as_str(),
            "stores": store_plan,
        }));
        reporter.human("when each store's targets go:");
        for store in &store_plan {
            reporter.human(&format!("  {}", crate::terminal::shown(&store.text)));
        }
    }

    let until = if args.wait {
        Until::Finished
    } else {
        Until::Published
    };
    let ended = match follow(&service, &mut events, db, &id, until, None, &reporter).await {
        Ok(ended) => ended,
        Err(failure) => {
            withdraw_if_refused(&service, &id).await;
            service.shutdown().await;
            return Err(failure);
        }
    };
    service.sync().await?;
    service.shutdown().await;

    let history = library.history();
    let row = load_row(history, id.as_str())?;
    reporter.summary(history, &row)?;
    let c = &row.counts;
    reporter.human(&format!(
        "{} completed, {} failed, {} timed out, {} cancelled, {} skipped, {} not finished",
        c.completed,
        c.failed,
        c.timed_out,
        c.cancelled,
        c.skipped,
        row.target_count as usize - c.terminal()
    ));
    match ended {
        Ended::Interrupted => Err(Failure::error(format!(
            "interrupted; the deployment goes on: storefleet status {id}"
        ))),
        Ended::Paused => {
            reporter.human(&format!(
                "paused: {}; continue with: storefleet resume {id} --wait",
                row.paused_reason.as_deref().unwrap_or("by the operator")
            ));
            Ok(PAUSED)
        }
        Ended::TimedOut => Ok(INCOMPLETE),
        Ended::Done if !args.wait => Ok(0),
        Ended::Done if c.completed as u64 == row.target_count => Ok(0),
        Ended::Done => Ok(INCOMPLETE),
    }
}

/// Made offline, then refused at the first connection: while nothing has left, cancelling
/// withdraws every command at once (nothing is sent), so the deployment does not go out by
/// surprise from the next process that connects.
async fn withdraw_if_refused(service: &Service, id: &Id) {
    if !matches!(service.link_state(), Some(LinkState::Refused { .. })) {
        return;
    }
    if let Ok(Some(summary)) = service.summary(id.clone()).await
        && summary.counts.queued == summary.total
    {
        if let Err(e) = service.cancel(id.clone()).await {
            tracing::warn!(error = %e, "cannot withdraw the refused deployment");
        }
        let _ = service.sync().await;
    }
}

/// Wave sizes as `2, 3, 3, 2`.
pub fn plan_text(waves: &[u32]) -> String {
    waves
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_store_slash_controller() {
        let t = parse_target("s1/c1").unwrap();
        assert_eq!(
            (t.store_id.as_str(), t.controller_id.as_str()),
            ("s1", "c1")
        );
        for bad in ["s1", "s1/c/1", "/c1", "s1/", "s+/c", "s/c#"] {
            let err = parse_target(bad).err().unwrap();
            assert_eq!(err.code, crate::failure::REFUSED, "{bad}");
        }
    }

    #[test]
    fn external_urls_get_the_file_name_unless_they_have_it() {
        assert_eq!(
            external_url("http://h/fw/", "a b.bin"),
            "http://h/fw/a%20b.bin"
        );
        assert_eq!(
            external_url("http://h/fw/a.bin", "a.bin"),
            "http://h/fw/a.bin"
        );
    }
}
