//! Serving a deployment's firmware again from a new process.
//!
//! `deploy` serves the file only while it runs. When `retry` later sends new attempts, the
//! recorded `file_url` must still answer: if it points at Storefleet's built-in server and
//! nothing listens there any more, serve the same artifact again at the same address and
//! token, so the URL the controllers get is the recorded one.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use storefleet::firmware::{DownloadRecord, FirmwareServer, Library, ServerConfig};
use storefleet::history::DownloadWriter;

use crate::failure::Failure;

/// Keeps a restarted server (and its download log) alive while the command runs.
pub struct Served {
    _server: FirmwareServer,
    _downloads: Arc<DownloadWriter>,
}

/// host, port and token of a built-in server URL (`http://HOST:PORT/fw/TOKEN/NAME`).
fn parse_builtin(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_once('/')?;
    let (host, port) = authority.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let mut segments = path.split('/');
    (segments.next()? == "fw").then_some(())?;
    let token = segments.next()?.to_owned();
    Some((host.trim_matches(['[', ']']).to_owned(), port, token))
}

/// Serves the deployment's file again when its built-in server is gone; `None` when the URL
/// is external or still answers. Refused when the file can no longer be served as recorded.
pub async fn ensure_served(db: &Path, file_url: &str) -> Result<Option<Served>, Failure> {
    let Some((host, port, token)) = parse_builtin(file_url) else {
        return Ok(None);
    };
    let library = Library::open(db)?;
    let Some(artifact) = library.history().artifact_by_token(&token)? else {
        return Ok(None);
    };
    let probe = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await;
    if matches!(probe, Ok(Ok(_))) {
        return Ok(None);
    }
    let deployable = library.ensure_deployable(artifact.id).map_err(|e| {
        Failure::refused(format!(
            "cannot serve the firmware of this deployment again: {e}"
        ))
    })?;
    let ip: IpAddr = host.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let downloads = Arc::new(DownloadWriter::start(db)?);
    let sink = Arc::clone(&downloads);
    let server = FirmwareServer::start(
        ServerConfig {
            bind: SocketAddr::new(ip, port),
            advertise: Some(host.clone()),
        },
        Arc::new(move |record: DownloadRecord| sink.record(record)),
    )
    .await
    .map_err(|e| {
        Failure::refused(format!(
            "the firmware was served at {file_url} and that address cannot be served again: {e}"
        ))
    })?;
    let url = server.publish(&deployable);
    if url != file_url {
        return Err(Failure::refused(format!(
            "the firmware would now be served at {url}, not at the recorded {file_url}"
        )));
    }
    Ok(Some(Served {
        _server: server,
        _downloads: downloads,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_builtin_server_urls_only() {
        assert_eq!(
            parse_builtin("http://127.0.0.1:7380/fw/abc123/fw.bin"),
            Some(("127.0.0.1".into(), 7380, "abc123".into()))
        );
        assert_eq!(parse_builtin("https://cdn.example/fw/abc/fw.bin"), None);
        assert_eq!(parse_builtin("http://h:80/files/fw.bin"), None);
        assert_eq!(parse_builtin("http://h/fw/abc/fw.bin"), None);
    }
}
