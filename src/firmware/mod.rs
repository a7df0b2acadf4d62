//! Firmware: the artifact library, MD5 hashing, file watching, the built-in HTTP server and
//! URL preflight (DESIGN.md sections 4 and 5).

mod address;
mod connections;
pub mod hash;
pub mod library;
mod metered;
pub mod preflight;
pub mod server;
pub mod server_settings;
pub mod watch;

pub use address::{default_advertise_host, first_non_loopback_ipv4};
pub use connections::ServerLimits;
pub use hash::{FileDigest, HashProgress, Md5Stream, hash_file, md5_hex};
pub use library::{
    ArtifactState, ArtifactStatus, Deployable, Library, LibraryError, validate_version,
};
pub use preflight::{Preflight, PreflightRefusal, PreflightReport, ServedSize};
pub use server::{DEFAULT_BIND, DownloadSink, FirmwareServer, ServerConfig, ServerError};
pub use server_settings::{ServerReach, ServerSettings, ServerSettingsError};
pub use watch::{ArtifactMonitor, ChangeKind, FileChange, FileWatcher, WatchError};

pub use crate::history::{Artifact, DownloadRecord};
