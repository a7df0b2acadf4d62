//! The three lists of commands must agree: the handlers the app registers (`lib.rs`), the
//! permissions `build.rs` generates, and what the window's capability grants. A command
//! missing from the capability fails at run time only, so check it here.

use std::collections::BTreeSet;

fn quoted_after(text: &str, start: &str, end: &str) -> BTreeSet<String> {
    let from = text.find(start).expect("start marker") + start.len();
    let to = from + text[from..].find(end).expect("end marker");
    // Splitting on quotes: the odd pieces are the quoted strings.
    text[from..to]
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_handler_has_a_permission_and_the_window_is_granted_exactly_those() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let read = |p: &str| std::fs::read_to_string(format!("{dir}/{p}")).unwrap();
    let lib = read("src/lib.rs");
    let from = lib.find("generate_handler![").unwrap();
    let to = from + lib[from..].find(']').unwrap();
    let handlers: BTreeSet<String> = lib[from..to]
        .split(',')
        .filter_map(|path| path.trim().rsplit("::").next())
        .filter(|name| !name.is_empty() && !name.contains('['))
        .map(str::to_owned)
        .collect();
    let manifest = quoted_after(&read("build.rs"), "const COMMANDS: &[&str] = &[", "];");
    assert_eq!(handlers, manifest, "lib.rs handlers vs build.rs COMMANDS");

    let capability: serde_json::Value =
        serde_json::from_str(&read("capabilities/main.json")).unwrap();
    let granted: BTreeSet<String> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str()?.strip_prefix("allow-"))
        .map(|p| p.replace('-', "_"))
        .collect();
    assert_eq!(
        granted, manifest,
        "capabilities/main.json vs build.rs COMMANDS"
    );
}
