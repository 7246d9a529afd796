//! Generates the hearth.v1 client and server from `proto/`. The .proto files are compiled
//! by protox (pure Rust), so building hearth needs no `protoc` installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/hearth/v1/builder.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // These carry secret values: their Debug is written by hand (src/redact.rs) so a
        // `{:?}` of a message never shows one.
        .skip_debug([".hearth.v1.SecretValue", ".hearth.v1.CredentialsResponse"])
        .compile_fds(descriptors)?;
    Ok(())
}
