//! Each app command gets its own permission (`allow-<name>`), so the capability file grants
//! exactly the commands the window uses and nothing else. Keep this list, the handler list in
//! `src/lib.rs` and `capabilities/main.json` in step (a test checks the last two).

/// Every command the window may call.
const COMMANDS: &[&str] = &[
    "app_info",
    "demo_info",
    "profiles_list",
    "profile_save",
    "profile_remove",
    "connect",
    "disconnect",
    "connection_watch",
    "pick_file",
    "save_file",
    "fleet_list",
    "fleet_import_csv",
    "fleet_add",
    "fleet_remove",
    "fleet_stores",
    "fleet_set_timezone",
    "fleet_set_windows",
    "firmware_list",
    "firmware_add",
    "firmware_rehash",
    "firmware_remove",
    "firmware_preflight",
    "firmware_watch",
    "server_status",
    "server_configure",
    "deployment_review",
    "deployment_start",
    "deployment_detail",
    "deployment_waits",
    "deployment_watch",
    "deployment_cancel",
    "deployment_retry",
    "deployment_pause",
    "deployment_resume",
    "deployment_export",
    "history_list",
    "activity_recent",
    "history_search",
    "activity_search",
    "activity_watch",
    "history_prune_plan",
    "history_prune",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("failed to run tauri-build");
}
