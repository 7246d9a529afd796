//! `Debug` for the messages that carry secret values, which prints everything but the
//! values, so that logging a message (or a stream item holding one) never leaks them.

use std::fmt;

use crate::v1::{CredentialsResponse, SecretValue};

const REDACTED: &str = "****";

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValue")
            .field("id", &self.id)
            .field(
                "value",
                &format_args!("{REDACTED} ({} bytes)", self.value.len()),
            )
            .field("found", &self.found)
            .finish()
    }
}

impl fmt::Debug for CredentialsResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |value: &str| if value.is_empty() { "" } else { REDACTED };
        f.debug_struct("CredentialsResponse")
            .field("host", &self.host)
            .field("username", &self.username)
            .field("secret", &shown(&self.secret))
            .field("identity_token", &shown(&self.identity_token))
            .field("found", &self.found)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::BuildClientMessage;
    use crate::v1::build_client_message::Message;

    #[test]
    fn secret_values_never_reach_debug_output() {
        let messages = [
            Message::Secret(SecretValue {
                id: "tok".into(),
                value: b"hunter2-value".to_vec(),
                found: true,
            }),
            Message::Credentials(CredentialsResponse {
                host: "r.example".into(),
                username: "alice".into(),
                secret: "hunter2-password".into(),
                identity_token: "hunter2-token".into(),
                found: true,
            }),
        ];
        for message in messages {
            let shown = format!(
                "{:?}",
                BuildClientMessage {
                    message: Some(message)
                }
            );
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("****"), "{shown}");
        }
    }
}
