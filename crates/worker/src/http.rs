//! HTTP(S) sources (`ADD https://…`): one downloaded file in a layer of its own,
//! verified against `--checksum` when given. The file is mode 0600, as BuildKit makes
//! downloads.

use std::sync::Arc;

use hearth_graph::op::HttpSource;
use hearth_solver::Job;
use hearth_store::LayerOrigin;

use crate::{Error, Host, Ref, records};

pub(crate) async fn fetch(host: &Host, source: &HttpSource, job: &Job) -> Result<Ref, Error> {
    let download_err = |message: String| Error::Download {
        url: source.url.clone(),
        message,
    };
    job.progress.status(format!("downloading {}", source.url));
    let response = reqwest::get(&source.url)
        .await
        .map_err(|e| download_err(e.to_string()))?;
    if !response.status().is_success() {
        return Err(download_err(format!(
            "server answered {}",
            response.status()
        )));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| download_err(e.to_string()))?;
    if let Some(expected) = &source.checksum {
        let actual = hearth_core::Digest::of(&body);
        if &actual != expected {
            return Err(download_err(format!(
                "checksum mismatch: expected {expected}, got {actual}"
            )));
        }
    }
    let pending = host.store.new_layer()?;
    let file = pending.diff_dir().join(&source.filename);
    std::fs::write(&file, &body).map_err(|e| Error::io(&file, e))?;
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| Error::io(&file, e))?;
    let id = records::commit_layer(host, pending, LayerOrigin::Built)?;
    Ok(Ref::Layers(Arc::new(vec![id])))
}
