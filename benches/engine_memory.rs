//! Engine state per target (DESIGN.md section 9, issue 13: at most ~300 B): the bytes the engine
//! holds for one deployment of N targets, counted by a global allocator, so the figure is exact
//! and does not depend on the machine's load. Ids are parsed one by one, as from a CSV.
//!
//! `cargo bench -p storefleet --bench engine_memory` prints a table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use storefleet::engine::{
    DeploymentSpec, Engine, Firmware, Millis, RolloutPolicy, TargetKey, Timeouts,
};
use storefleet::protocol::{Id, Md5Hex};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// UUID-shaped ids in stores of 8, each parsed on its own (no sharing by the caller).
fn spec(n: usize) -> DeploymentSpec {
    let uuid = |kind: u32, i: usize| format!("{kind:08x}-0000-4000-8000-{i:012x}");
    DeploymentSpec {
        deployment_id: Id::new("bench-deployment").unwrap(),
        firmware: Firmware {
            firmware_version: "2.5.0".into(),
            file_url: "http://10.0.0.5:7380/fw/0123456789abcdef/store-ctl-2.5.0.bin".into(),
            file_size: 48 << 20,
            checksum: Md5Hex::parse("8a3be389a446bba670da3a33e5506d2e").unwrap(),
        },
        targets: (0..n)
            .map(|i| {
                TargetKey::new(
                    Id::new(uuid(1, i / 8)).unwrap(),
                    Id::new(uuid(2, i)).unwrap(),
                )
            })
            .collect(),
        timeouts: Timeouts {
            ack: Duration::from_secs(30),
            completion: Duration::from_secs(1800),
        },
        policy: RolloutPolicy::default(),
    }
}

fn main() {
    println!(
        "| targets | engine after create | per target | after every command is published | per target |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for n in [10_000usize, 100_000] {
        let base = live();
        let spec = spec(n);
        let mut engine = Engine::new();
        let created = engine.create(spec, Millis(1_000)).expect("create");
        // The correlation ids to confirm, copied out as text: what the copies take is ours,
        // not the engine's.
        let before_copy = live();
        let commands: Vec<String> = created
            .commands
            .iter()
            .map(|c| c.correlation_id.as_str().to_owned())
            .collect();
        let ours = live() - before_copy;
        drop(created);
        let after_create = live() - base - ours;
        for id in &commands {
            let id = Id::new(id.as_str()).expect("an id the engine made");
            let _ = engine.on_published(&id, Millis(2_000));
        }
        let after_publish = live() - base - ours;
        println!(
            "| {n} | {:.1} MB | {} B | {:.1} MB | {} B |",
            after_create as f64 / 1e6,
            after_create / n as isize,
            after_publish as f64 / 1e6,
            after_publish / n as isize
        );
        drop(commands);
        drop(engine);
    }
}
