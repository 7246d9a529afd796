//! Image references in FROM and `COPY --from`, normalised as docker does:
//! `busybox` means `docker.io/library/busybox:latest`.

use oci_spec::distribution::Reference;

/// The fully qualified form of `name`, with `:latest` added when it has neither a
/// tag nor a digest.
pub(crate) fn normalize(name: &str) -> Result<String, String> {
    match name.parse::<Reference>() {
        Ok(reference) => Ok(reference.whole()),
        Err(err) => {
            // The grammar only allows lowercase repository names; when that is the
            // only problem, say so the way docker does.
            if let Ok(lower) = name.to_ascii_lowercase().parse::<Reference>() {
                return Err(format!(
                    "invalid reference format: repository name ({}) must be lowercase",
                    lower.repository()
                ));
            }
            Err(format!("invalid reference format: {err}"))
        }
    }
}

/// `reference` pinned to `digest`, replacing any digest it had.
pub(crate) fn with_digest(reference: &str, digest: &str) -> String {
    let name = reference.split('@').next().unwrap_or(reference);
    format!("{name}@{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox", "docker.io/library/busybox:latest"),
            ("user/app:v1", "docker.io/user/app:v1"),
            (
                "127.0.0.1:5000/library/busybox",
                "127.0.0.1:5000/library/busybox:latest",
            ),
            ("localhost/x", "localhost/x:latest"),
            (
                "index.docker.io/library/alpine",
                "docker.io/library/alpine:latest",
            ),
            (
                "busybox@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "docker.io/library/busybox@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn invalid_references() {
        assert!(
            normalize("Busybox")
                .unwrap_err()
                .contains("must be lowercase")
        );
        assert!(normalize("a b").is_err());
        assert!(normalize("").is_err());
    }

    #[test]
    fn pinning() {
        assert_eq!(
            with_digest("docker.io/library/busybox:latest", "sha256:ab"),
            "docker.io/library/busybox:latest@sha256:ab"
        );
        assert_eq!(with_digest("x@sha256:old", "sha256:new"), "x@sha256:new");
    }
}
