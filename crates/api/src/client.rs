//! Reaching a daemon: unix sockets (the default), and TCP with mutual TLS.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::v1::builder_client::BuilderClient;

/// Why a daemon could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The address is neither unix:// nor tcp://.
    #[error("invalid daemon address {0:?}: use unix:///path/to.sock or tcp://host:port")]
    Address(String),
    /// The transport failed.
    #[error("cannot reach hearthd at {address}: {message}")]
    Transport {
        /// The address.
        address: String,
        /// What failed.
        message: String,
    },
    /// A TLS file could not be read.
    #[error("reading {}: {source}", path.display())]
    Tls {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

impl ConnectError {
    /// The class of this error: an address or TLS file is the user's to fix; a daemon
    /// that does not answer is unavailable.
    pub fn kind(&self) -> hearth_core::ErrorKind {
        match self {
            Self::Address(_) | Self::Tls { .. } => hearth_core::ErrorKind::InvalidInput,
            Self::Transport { .. } => hearth_core::ErrorKind::Unavailable,
        }
    }
}

/// Client certificate, key and the CA that signed the daemon's certificate, for TCP.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// The CA (PEM).
    pub ca: PathBuf,
    /// The client certificate (PEM).
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// The name the daemon's certificate carries, when not the host.
    pub server_name: Option<String>,
}

fn describe(error: &tonic::transport::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(next) = source {
        text = format!("{text}: {next}");
        source = next.source();
    }
    text
}

/// Connects to `address` (`unix:///…` or `tcp://host:port`, the latter with `tls`).
pub async fn connect(
    address: &str,
    tls: Option<&ClientTls>,
) -> Result<BuilderClient<Channel>, ConnectError> {
    let transport = |e: tonic::transport::Error| ConnectError::Transport {
        address: address.to_owned(),
        message: describe(&e),
    };
    if let Some(path) = address.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(ConnectError::Address(address.to_owned()));
        }
        let path = PathBuf::from(path);
        // The URI is a placeholder: the connector ignores it and dials the socket.
        let endpoint = Endpoint::try_from("http://hearthd.invalid").map_err(transport)?;
        let channel = endpoint
            .connect_with_connector(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
            .await
            .map_err(transport)?;
        return Ok(BuilderClient::new(channel).max_decoding_message_size(64 << 20));
    }
    if let Some(host) = address.strip_prefix("tcp://") {
        let Some(tls) = tls else {
            return Err(ConnectError::Transport {
                address: address.to_owned(),
                message: "hearthd serves TCP only with mutual TLS: give the CA, a client certificate and its key".into(),
            });
        };
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| ConnectError::Tls {
                path: path.to_path_buf(),
                source,
            })
        };
        let mut config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&tls.ca)?))
            .identity(Identity::from_pem(read(&tls.cert)?, read(&tls.key)?));
        let name = tls
            .server_name
            .clone()
            .unwrap_or_else(|| host.rsplit_once(':').map_or(host, |(h, _)| h).to_owned());
        config = config.domain_name(name);
        let endpoint = Endpoint::try_from(format!("https://{host}"))
            .map_err(transport)?
            .tls_config(config)
            .map_err(transport)?;
        let channel = endpoint.connect().await.map_err(transport)?;
        return Ok(BuilderClient::new(channel).max_decoding_message_size(64 << 20));
    }
    Err(ConnectError::Address(address.to_owned()))
}
