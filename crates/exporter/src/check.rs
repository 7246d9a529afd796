//! Outputs that cannot hold what a build makes are refused before the build runs.

use crate::{Export, ExportError, ExportKind};

/// Why a docker archive or `--load` cannot take several platforms, and what to do.
pub(crate) const DOCKER_LIST_UNSUPPORTED: &str = "docker exporter does not currently support exporting manifest lists: \
`docker load` keeps one image per name. Build one platform (--platform linux/amd64) to load it, \
or keep every platform with -o type=oci,dest=FILE or --push";

/// Checks that every output can hold the images of `platforms` platforms.
pub fn check_outputs(outputs: &[Export], platforms: usize) -> Result<(), ExportError> {
    if platforms < 2 {
        return Ok(());
    }
    for output in outputs {
        if matches!(
            output.kind,
            ExportKind::DockerArchive { .. } | ExportKind::DockerLoad
        ) {
            return Err(ExportError::Unsupported(DOCKER_LIST_UNSUPPORTED.to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImageFormat;

    fn output(kind: ExportKind) -> Export {
        Export {
            kind,
            names: Vec::new(),
            format: ImageFormat::default(),
            push: false,
        }
    }

    #[test]
    fn several_platforms_cannot_be_loaded_into_docker() {
        let load = [output(ExportKind::DockerLoad)];
        assert!(check_outputs(&load, 1).is_ok());
        let message = check_outputs(&load, 2).unwrap_err().to_string();
        assert!(message.contains("type=oci"), "{message}");
        assert!(message.contains("--push"), "{message}");
        let oci = [output(ExportKind::OciArchive { dest: "x".into() })];
        assert!(check_outputs(&oci, 3).is_ok());
    }
}
