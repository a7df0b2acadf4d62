fn main() {
    // Each app command gets its own permission (`allow-<name>`), so the capability file
    // grants exactly the commands the window uses and nothing else.
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(&["app_info", "demo_info"])),
    )
    .expect("failed to run tauri-build");
}
