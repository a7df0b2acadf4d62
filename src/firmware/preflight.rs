//! URL preflight for externally hosted firmware: download the URL once and check that it
//! serves exactly the local file (size and MD5) before any command goes out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use rustls_platform_verifier::BuilderVerifierExt;

use super::hash::Md5Stream;
use super::library::Deployable;

/// The longest wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest silence while reading the body.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a whole preflight may take: a server that trickles a byte now and then stays
/// under the read timeout forever, and nothing may go out while it runs.
pub const PREFLIGHT_DEADLINE: Duration = Duration::from_secs(300);

/// What the URL serves: a size the server announced or the bytes actually received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedSize {
    Exactly(u64),
    /// The download was stopped once it passed the expected size.
    MoreThan(u64),
}

impl std::fmt::Display for ServedSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exactly(n) => write!(f, "{n} bytes"),
            Self::MoreThan(n) => write!(f, "more than {n} bytes"),
        }
    }
}

/// Why a URL may not be used for a deployment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightRefusal {
    #[error("{url:?} is not a usable firmware URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("{url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered HTTP {status}, not 200 with the firmware file")]
    HttpStatus { url: String, status: u16 },
    #[error("{url} serves {served} but the local firmware file is {expected} bytes")]
    SizeMismatch {
        url: String,
        expected: u64,
        served: ServedSize,
    },
    #[error(
        "{url} serves bytes with MD5 {served}, but the local firmware file's MD5 is {expected}"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        served: String,
    },
    #[error("{url} did not serve the whole file within {} s", limit.as_secs())]
    TooSlow { url: String, limit: Duration },
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// What a successful preflight saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightReport {
    pub url: String,
    pub size: u64,
    pub md5: String,
    pub elapsed: Duration,
}

/// An HTTP(S) client for preflights (TLS: rustls with `ring`, the OS trust store).
#[derive(Clone)]
pub struct Preflight {
    client: reqwest::Client,
    deadline: Duration,
}

impl Preflight {
    pub fn new() -> Result<Self, PreflightRefusal> {
        let client = http_client().map_err(PreflightRefusal::Client)?;
        Ok(Self {
            client,
            deadline: PREFLIGHT_DEADLINE,
        })
    }

    /// The same with another overall deadline (tests, very slow links).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Downloads `url` and compares it with the artifact, within the overall deadline; Ok
    /// only on an exact match.
    pub async fn check(
        &self,
        url: &str,
        deployable: &Deployable,
    ) -> Result<PreflightReport, PreflightRefusal> {
        match tokio::time::timeout(self.deadline, self.download(url, deployable)).await {
            Ok(checked) => checked,
            Err(_) => Err(PreflightRefusal::TooSlow {
                url: url.to_owned(),
                limit: self.deadline,
            }),
        }
    }

    async fn download(
        &self,
        url: &str,
        deployable: &Deployable,
    ) -> Result<PreflightReport, PreflightRefusal> {
        let artifact = deployable.artifact();
        let parsed = parse_url(url)?;
        let started = Instant::now();
        let unreachable = |e: reqwest::Error| PreflightRefusal::Unreachable {
            url: url.to_owned(),
            reason: describe(&e),
        };
        let mut response = self.client.get(parsed).send().await.map_err(unreachable)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(PreflightRefusal::HttpStatus {
                url: url.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let size_mismatch = |served| PreflightRefusal::SizeMismatch {
            url: url.to_owned(),
            expected: artifact.size,
            served,
        };
        // A server that announces another length is refused before its body is read.
        if let Some(announced) = response.content_length()
            && announced != artifact.size
        {
            return Err(size_mismatch(ServedSize::Exactly(announced)));
        }
        let mut stream = Md5Stream::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            stream.update(&chunk);
            if stream.size() > artifact.size {
                return Err(size_mismatch(ServedSize::MoreThan(artifact.size)));
            }
        }
        let digest = stream.finish();
        if digest.size != artifact.size {
            return Err(size_mismatch(ServedSize::Exactly(digest.size)));
        }
        let md5 = digest.md5_hex();
        if md5 != artifact.md5 {
            return Err(PreflightRefusal::ChecksumMismatch {
                url: url.to_owned(),
                expected: artifact.md5.clone(),
                served: md5,
            });
        }
        Ok(PreflightReport {
            url: url.to_owned(),
            size: digest.size,
            md5,
            elapsed: started.elapsed(),
        })
    }
}

/// An HTTP(S) client with rustls over `ring` and the OS trust store, and Storefleet's
/// timeouts. (reqwest's own default provider would be aws-lc-rs, which this build avoids.)
pub fn http_client() -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_platform_verifier()
        .map_err(|e| e.to_string())?
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("storefleet/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// Accepts absolute `http` and `https` URLs with a host.
pub fn parse_url(url: &str) -> Result<Url, PreflightRefusal> {
    let invalid = |reason: &str| PreflightRefusal::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("only http:// and https:// URLs can be used"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    Ok(parsed)
}

/// The most specific cause of a client error, in one line (the simulator's downloads use it
/// too).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_are_accepted() {
        parse_url("http://10.0.0.5:8080/fw/a.bin").unwrap();
        parse_url("https://cdn.example/fw.bin").unwrap();
        for bad in [
            "",
            "fw.bin",
            "/fw.bin",
            "ftp://host/fw.bin",
            "file:///etc/passwd",
            "http://",
        ] {
            assert!(
                matches!(parse_url(bad), Err(PreflightRefusal::InvalidUrl { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sizes_read_plainly() {
        assert_eq!(ServedSize::Exactly(3).to_string(), "3 bytes");
        assert_eq!(ServedSize::MoreThan(3).to_string(), "more than 3 bytes");
    }
}
