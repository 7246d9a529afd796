//! `hearth-testkit`: the set-up script's access to the test components.
//!
//! `hearth-testkit busybox-layout [--platforms linux/amd64,linux/arm64] DIR` writes the
//! busybox base image as an OCI layout, which `scripts/setup` pushes to the local registry
//! with skopeo: one platform (linux/amd64 by default) as a single image, several as an
//! image index (push it with `skopeo copy --all`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use hearth_testkit::BusyboxPlatform;

const USAGE: &str =
    "usage: hearth-testkit busybox-layout [--platforms linux/amd64,linux/arm64] DIR";

fn busybox_layout(platforms: &str, dir: &str) -> Result<String, String> {
    let platforms = platforms
        .split(',')
        .map(|p| BusyboxPlatform::parse(p.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let digest = match platforms.as_slice() {
        [one] => hearth_testkit::write_busybox_platform_layout(Path::new(dir), *one)?,
        several => hearth_testkit::write_busybox_index_layout(Path::new(dir), several)?,
    };
    Ok(digest.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [cmd, dir] if cmd == "busybox-layout" => busybox_layout("linux/amd64", dir),
        [cmd, flag, platforms, dir] if cmd == "busybox-layout" && flag == "--platforms" => {
            busybox_layout(platforms, dir)
        }
        _ => {
            let _ = writeln!(std::io::stderr(), "{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
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
