//! `hearth-testkit`: the set-up script's access to the test components.
//!
//! `hearth-testkit busybox-layout DIR` writes the busybox base image as an OCI layout,
//! which `scripts/setup` pushes to the local registry with skopeo.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, dir] if cmd == "busybox-layout" => {
            match hearth_testkit::write_busybox_layout(std::path::Path::new(dir)) {
                Ok(digest) => {
                    let _ = writeln!(std::io::stdout(), "{digest}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "usage: hearth-testkit busybox-layout DIR"
            );
            ExitCode::from(2)
        }
    }
}
