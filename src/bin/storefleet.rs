//! The `storefleet` command line: a thin adapter over the core.
use clap::Parser;

#[derive(Parser)]
#[command(name = "storefleet", version = storefleet::VERSION, about = "Roll firmware out to store controllers over MQTT")]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
