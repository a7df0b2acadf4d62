//! `storefleet firmware …`: the artifact library, the built-in server and URL preflight.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use serde_json::json;
use storefleet::firmware::{
    ArtifactMonitor, ArtifactState, ArtifactStatus, DEFAULT_BIND, FirmwareServer, HashProgress,
    Library, Preflight, ServerConfig,
};
use storefleet::history::{DownloadRecord, DownloadWriter};

use crate::failure::Failure;

#[derive(Subcommand)]
pub enum FirmwareCommand {
    /// Register a firmware file: hash it (MD5 and size) and keep it in the library.
    Add {
        path: PathBuf,
        /// The firmware version the controllers are told about.
        #[arg(long)]
        version: String,
        /// Display name (default: the file name).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List registered firmware, and whether each file is still what was hashed.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Take firmware out of the library (the file itself is left alone).
    Remove { id: i64 },
    /// Hash a firmware file again, after it changed.
    Rehash {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Serve every deployable firmware file over HTTP until Ctrl-C.
    Serve {
        /// Address and port to listen on (port 0: any free port).
        #[arg(long, default_value_t = DEFAULT_BIND, value_name = "ADDR:PORT")]
        bind: SocketAddr,
        /// Host or IP put in the URLs (default: the bind address, or this machine's first
        /// non-loopback IPv4 address when binding to all interfaces).
        #[arg(long, value_name = "HOST")]
        advertise: Option<String>,
    },
    /// Check that a URL serves exactly a registered firmware file (size and MD5).
    Preflight {
        id: i64,
        #[arg(long)]
        url: String,
        #[arg(long)]
        json: bool,
    },
    /// Downloads served by the built-in server (of one firmware, or all).
    Downloads {
        id: Option<i64>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: FirmwareCommand, db: &Path) -> Result<(), Failure> {
    let library = Library::open(db)?;
    match cmd {
        FirmwareCommand::Add {
            path,
            version,
            name,
            json,
        } => {
            let mut progress = progress_printer(&path, json);
            let artifact = library.add(&path, &version, name.as_deref(), &mut progress)?;
            let status = library.get(artifact.id)?;
            if json {
                print_json(&status);
            } else {
                outln!(
                    "added firmware {}: {} {} ({}, MD5 {})",
                    artifact.id,
                    artifact.name,
                    artifact.version,
                    human_size(artifact.size),
                    artifact.md5
                );
            }
            Ok(())
        }
        FirmwareCommand::List { json } => {
            let list = library.list()?;
            if json {
                print_json(&list);
            } else {
                print_table(&list);
            }
            Ok(())
        }
        FirmwareCommand::Remove { id } => {
            let a = library.remove(id)?;
            outln!("removed firmware {id} ({} {})", a.name, a.version);
            Ok(())
        }
        FirmwareCommand::Rehash { id, json } => {
            let path = library.get(id)?.artifact.path;
            let mut progress = progress_printer(&path, json);
            let before = library.get(id)?.artifact;
            let a = library.rehash(id, &mut progress)?;
            if json {
                print_json(&library.get(id)?);
            } else if a.md5 == before.md5 && a.size == before.size {
                outln!(
                    "firmware {id} is unchanged (MD5 {}); it can be deployed",
                    a.md5
                );
            } else {
                outln!(
                    "firmware {id} rehashed: {}, MD5 {} (was {}); old URLs of it no longer work",
                    human_size(a.size),
                    a.md5,
                    before.md5
                );
            }
            Ok(())
        }
        FirmwareCommand::Serve { bind, advertise } => {
            serve(library, db, ServerConfig { bind, advertise })
        }
        FirmwareCommand::Preflight { id, url, json } => {
            let deployable = library.ensure_deployable(id)?;
            let preflight = Preflight::new()?;
            let outcome = runtime()?.block_on(preflight.check(&url, &deployable));
            match outcome {
                Ok(report) => {
                    if json {
                        print_json(&json!({
                            "ok": true, "url": report.url, "file_size": report.size,
                            "checksum": report.md5, "elapsed_ms": report.elapsed.as_millis() as u64,
                        }));
                    } else {
                        outln!(
                            "ok: {} serves firmware {id} exactly ({}, MD5 {})",
                            report.url,
                            human_size(report.size),
                            report.md5
                        );
                    }
                    Ok(())
                }
                Err(refusal) => {
                    if json {
                        print_json(
                            &json!({ "ok": false, "url": url, "reason": refusal.to_string() }),
                        );
                    }
                    Err(refusal.into())
                }
            }
        }
        FirmwareCommand::Downloads { id, json } => {
            if let Some(id) = id {
                library.get(id)?;
            }
            let downloads = library.history().downloads(id)?;
            if json {
                print_json(&downloads);
            } else if downloads.is_empty() {
                outln!("no downloads recorded");
            } else {
                for d in &downloads {
                    outln!("{}", describe_download(&d.record));
                }
            }
            Ok(())
        }
    }
}

fn serve(library: Library, db: &Path, config: ServerConfig) -> Result<(), Failure> {
    let (mut ready, mut refused) = (Vec::new(), Vec::new());
    for status in library.list()? {
        match library.ensure_deployable(status.artifact.id) {
            Ok(deployable) => ready.push(deployable),
            Err(why) => refused.push(why),
        }
    }
    if ready.is_empty() {
        return Err(Failure::refused(match refused.first() {
            None => "no firmware registered; add some with `storefleet firmware add`".to_owned(),
            Some(why) => format!("no deployable firmware to serve ({why})"),
        }));
    }
    let writer = DownloadWriter::start(db)?;
    let sink = Arc::new(move |record: DownloadRecord| {
        eprintln!("{}", describe_download(&record));
        writer.record(record);
    });
    let rt = runtime()?;
    rt.block_on(async move {
        let server = FirmwareServer::start(config, sink).await?;
        let (stale_tx, mut stale_rx) = tokio::sync::mpsc::unbounded_channel();
        let _monitor = ArtifactMonitor::start(library.history().path(), move |id| {
            let _ = stale_tx.send(id);
        })?;
        for deployable in &ready {
            let url = server.publish(deployable);
            let a = deployable.artifact();
            outln!("firmware {} ({} {}): {url}", a.id, a.name, a.version);
        }
        for why in &refused {
            eprintln!("not serving: {why}");
        }
        let _ = std::io::stdout().flush();
        eprintln!(
            "serving on {} (advertised as {}); Ctrl-C stops",
            server.local_addr(),
            server.base_url()
        );
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                _ = &mut ctrl_c => break,
                Some(id) = stale_rx.recv() => {
                    if server.unpublish(id) {
                        eprintln!(
                            "firmware {id} changed on disk: no longer served; rehash it (`storefleet firmware rehash {id}`) and serve again"
                        );
                    }
                }
            }
        }
        Ok(())
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("cannot start the async runtime: {e}")))
}

/// Progress on stderr while hashing, only on a terminal and never in JSON mode.
fn progress_printer(path: &Path, json: bool) -> impl FnMut(HashProgress) {
    let show = !json && std::io::stderr().is_terminal();
    let name = path.display().to_string();
    let mut printed = false;
    move |p: HashProgress| {
        if !show {
            return;
        }
        let finished = p.total.is_none_or(|t| p.done >= t);
        if finished && !printed {
            return; // small file: done before the first report
        }
        printed = true;
        let mut err = std::io::stderr().lock();
        match p.total {
            Some(t) if t > 0 => {
                let _ = write!(
                    err,
                    "\rhashing {name}: {:>3}% of {}",
                    p.done * 100 / t,
                    human_size(t)
                );
            }
            _ => {
                let _ = write!(err, "\rhashing {name}: {}", human_size(p.done));
            }
        }
        if finished {
            let _ = writeln!(err);
        }
    }
}

fn print_json<T: serde::Serialize + ?Sized>(value: &T) {
    outln!(
        "{}",
        serde_json::to_string(value).expect("CLI values serialize")
    );
}

fn print_table(list: &[ArtifactStatus]) {
    if list.is_empty() {
        outln!("no firmware registered; add some with `storefleet firmware add PATH --version V`");
        return;
    }
    outln!(
        "{:>4}  {:<16}  {:<20}  {:>10}  {:<32}  {:<7}  PATH",
        "ID",
        "VERSION",
        "NAME",
        "SIZE",
        "MD5",
        "STATE"
    );
    for s in list {
        let a = &s.artifact;
        let state = match s.state {
            ArtifactState::Ready => "ready",
            ArtifactState::Stale => "STALE",
            ArtifactState::Missing => "MISSING",
        };
        outln!(
            "{:>4}  {:<16}  {:<20}  {:>10}  {:<32}  {:<7}  {}",
            a.id,
            a.version,
            a.name,
            human_size(a.size),
            a.md5,
            state,
            a.path.display()
        );
    }
    for s in list {
        let id = s.artifact.id;
        match s.state {
            ArtifactState::Ready => {}
            ArtifactState::Stale => outln!(
                "firmware {id} changed after it was hashed and cannot be deployed: run `storefleet firmware rehash {id}`"
            ),
            ArtifactState::Missing => outln!(
                "firmware {id} cannot be deployed: {} is missing",
                s.artifact.path.display()
            ),
        }
    }
}

fn describe_download(r: &DownloadRecord) -> String {
    format!(
        "{}  {} fetched firmware {}: {} bytes in {} ms, HTTP {}{}{}",
        r.started_at,
        r.client_addr,
        r.artifact_id,
        r.bytes_sent,
        r.duration_ms,
        r.status,
        r.range
            .as_deref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default(),
        if r.completed { "" } else { ", interrupted" }
    )
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
