//! `hearth`: the command line client.
//!
//! Each subcommand is a thin layer that turns flags into typed options, calls the
//! library crates and prints the result; errors get context here and are printed once
//! by `main`.

mod commands;
mod exit;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// hearth builds container images from Dockerfiles, compatible with BuildKit.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: commands::engine::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build an image from a Dockerfile.
    Build(Box<commands::build::Args>),
    /// List the images in hearth's store.
    Images(commands::images::ListArgs),
    /// Remove images from hearth's store by name.
    Rmi(commands::images::RemoveArgs),
    /// Download an image into hearth's store.
    Pull(commands::pull_push::PullArgs),
    /// Upload an image from hearth's store to its registry.
    Push(commands::pull_push::PushArgs),
    /// Show storage use by record (cached steps, contexts, cache mounts).
    Du(commands::du_prune::DuArgs),
    /// Remove cached records by age, size and filter.
    Prune(commands::du_prune::PruneArgs),
    /// Inspect images in a registry and combine them into multi-platform images.
    #[command(subcommand)]
    Imagetools(ImagetoolsCommand),
    /// Log in to a registry (writes docker's credential file or helper).
    Login(commands::login::LoginArgs),
    /// Log out from a registry.
    Logout(commands::login::LogoutArgs),
    /// Tools for inspecting what hearth understands.
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Debug, Subcommand)]
enum ImagetoolsCommand {
    /// Show a reference's manifest or index and its platforms.
    Inspect(commands::imagetools::InspectArgs),
    /// Create a new image based on source images (an index of all their manifests).
    Create(commands::imagetools::CreateArgs),
}

#[derive(Debug, Subcommand)]
enum DebugCommand {
    /// Parse a Dockerfile and print its stages, expanded instructions, image
    /// configuration and build graph.
    Dockerfile(commands::debug_dockerfile::Args),
    /// Show which engine builds use (a daemon or in-process) and how it is set up.
    Info,
    /// Check every blob and record in the state directory.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => commands::build::run(&cli.global, &args),
        Command::Images(args) => commands::images::list(&cli.global, &args),
        Command::Rmi(args) => commands::images::remove(&cli.global, &args),
        Command::Imagetools(ImagetoolsCommand::Inspect(args)) => {
            commands::imagetools::inspect(&cli.global, &args)
        }
        Command::Imagetools(ImagetoolsCommand::Create(args)) => {
            commands::imagetools::create(&cli.global, &args)
        }
        Command::Du(args) => commands::du_prune::du(&cli.global, &args),
        Command::Prune(args) => commands::du_prune::prune(&cli.global, &args),
        Command::Pull(args) => commands::pull_push::pull(&cli.global, &args),
        Command::Push(args) => commands::pull_push::push(&cli.global, &args),
        Command::Login(args) => commands::login::login(&cli.global, &args),
        Command::Logout(args) => commands::login::logout(&args),
        Command::Debug(DebugCommand::Dockerfile(args)) => commands::debug_dockerfile::run(&args),
        Command::Debug(DebugCommand::Info) => commands::debug_info::run(&cli.global),
        Command::Debug(DebugCommand::Verify) => commands::debug_verify::run(&cli.global),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // Our own output piped into a reader that quit (`hearth … | head`) is not an
            // error worth reporting. Only a bare write error is that: a broken pipe deeper
            // in a chain (a daemon hanging up on a refused TLS client) is a real failure.
            let closed_stdout = err.chain().count() == 1
                && err
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
            if closed_stdout {
                return ExitCode::SUCCESS;
            }
            commands::print_error(&err);
            match exit::kind_of(&err) {
                Some(kind) => {
                    if let Some(advice) = exit::advice(kind) {
                        use std::io::Write as _;
                        let _ = writeln!(std::io::stderr().lock(), "{advice}");
                    }
                    exit::code(kind)
                }
                None => ExitCode::from(1),
            }
        }
    }
}
