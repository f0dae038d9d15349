//! `edge-registry`: pushes images to an OCI registry in requests no larger than its body
//! limit (Cloudflare's plans cap a request body at 100 MB), with docker's credentials.
//! Built with `--features cli`; each command's logic lives in a module of its own.

mod archive;
mod cache;
mod challenge;
mod chunks;
mod daemon;
mod docker_config;
mod error;
mod insecure_tls;
mod layout;
mod names;
mod progress;
mod push;
mod registry;
mod remote;
mod source;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use cache::Cache;
use docker_config::{Credentials, DockerConfig};
use error::CliError;
use layout::Layout;
use names::{Destination, RemoteImage, Source};
use progress::{bytes, Output, Progress};
use push::Push;
use registry::{Connect, Registry, Retry};
use remote::Remote;
use source::{Image, ImageSource};

#[derive(Parser)]
#[command(
    name = "edge-registry",
    version,
    about = "Pushes OCI images to a registry in chunks within its request body limit"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks credentials with REGISTRY and stores them in docker's config.json
    Login {
        /// `host[:port]`
        registry: String,
        #[arg(short, long)]
        username: Option<String>,
        /// Reads the password from standard input
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Removes REGISTRY's credentials from docker's config.json
    Logout { registry: String },
    /// Pushes an image: SOURCE is oci:DIR[:TAG], docker-archive:FILE[:REPO:TAG] or
    /// docker-daemon:IMAGE, DESTINATION is REGISTRY/NAME[:TAG]
    Push {
        source: String,
        destination: String,
        #[command(flatten)]
        transfer: Transfer,
        #[command(flatten)]
        connection: Connection,
    },
    /// Copies an image from another registry with the same digests: SOURCE is
    /// REGISTRY/NAME[:TAG] or REGISTRY/NAME@DIGEST, DESTINATION is REGISTRY/NAME[:TAG]
    Copy {
        source: String,
        destination: String,
        /// Also copies what refers to the image (signatures, attestations, SBOMs), found with
        /// the referrers API or, where the source has none, by their tags
        #[arg(long)]
        with_referrers: bool,
        /// Reads the source over plain HTTP (the default for loopback hosts)
        #[arg(long)]
        source_plain_http: bool,
        #[command(flatten)]
        transfer: Transfer,
        #[command(flatten)]
        connection: Connection,
    },
}

/// How content is sent and reported, for every command that uploads.
#[derive(Args)]
struct Transfer {
    /// The largest request body to send, in bytes, when smaller than the registry's
    /// OCI-Chunk-Max-Length (default: no limit but the registry's)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    chunk_size: Option<u64>,
    /// Prints one JSON object with what was pushed and skipped, and nothing else
    #[arg(long, conflicts_with = "quiet")]
    json: bool,
    /// Prints nothing but errors
    #[arg(short, long)]
    quiet: bool,
    /// Blobs uploaded at once
    #[arg(short, long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=32))]
    jobs: u16,
    /// Where unfinished uploads are remembered, to resume them when the push runs again
    /// (default: $XDG_CACHE_HOME/edge-registry, else ~/.cache/edge-registry)
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(Args, Clone, Copy)]
struct Connection {
    /// Speaks plain HTTP (the default for loopback hosts such as 127.0.0.1 and localhost)
    #[arg(long)]
    plain_http: bool,
    /// Speaks TLS (on loopback hosts too) and accepts any certificate, a self-signed one say,
    /// instead of verifying it
    #[arg(long, conflicts_with = "plain_http")]
    insecure: bool,
    /// Times a request that failed on the way (connection, 429, 5xx) is tried again, with
    /// backoff; an interrupted upload goes on from where the registry stands
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=20))]
    retries: u32,
}

impl Connection {
    fn registry(&self, name: &str, credentials: Option<Credentials>) -> Result<Registry, CliError> {
        let connect = Connect {
            plain_http: self.plain_http,
            insecure: self.insecure,
        };
        let retry = Retry {
            retries: self.retries,
            first_delay: Duration::from_millis(500),
        };
        Registry::new(name, connect, credentials, retry)
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge-registry: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Login {
            registry,
            username,
            password_stdin,
            connection,
        } => login(&registry, username, password_stdin, &connection),
        Command::Logout { registry } => logout(&registry),
        Command::Push {
            source,
            destination,
            transfer,
            connection,
        } => {
            let source = Source::parse(&source)?;
            let destination = Destination::parse(&destination)?;
            match source {
                Source::Oci { dir, tag } => {
                    let layout = Layout::open(&dir)?;
                    let image = layout.image(tag.as_deref())?;
                    upload(&layout, &image, &destination, &transfer, &connection)
                }
                Source::DockerArchive { file, name } => {
                    let (archive, image) = archive::open(&file, name.as_deref())?;
                    upload(
                        archive.as_ref(),
                        &image,
                        &destination,
                        &transfer,
                        &connection,
                    )
                }
                Source::DockerDaemon { image } => {
                    let saved = daemon::save(&image)?;
                    let (archive, image) = archive::open(saved.path(), None)?;
                    upload(
                        archive.as_ref(),
                        &image,
                        &destination,
                        &transfer,
                        &connection,
                    )
                }
            }
        }
        Command::Copy {
            source,
            destination,
            with_referrers,
            source_plain_http,
            transfer,
            connection,
        } => {
            let source = RemoteImage::parse(&source)?;
            let destination = Destination::parse(&destination)?;
            let credentials = DockerConfig::load(&docker_config::default_path()?)?
                .credentials(&source.registry)?;
            let reading = Connection {
                plain_http: source_plain_http,
                ..connection
            };
            let remote =
                Remote::connect(&source, reading.registry(&source.registry, credentials)?)?;
            let copy = remote.copy(with_referrers)?;
            upload(&remote, &copy.image, &destination, &transfer, &connection)?;
            for (tag, referrer) in &copy.tagged {
                let destination = Destination {
                    tag: tag.clone(),
                    ..destination.clone()
                };
                upload(&remote, referrer, &destination, &transfer, &connection)?;
            }
            Ok(())
        }
    }
}

/// Pushes `image` from `source` to `destination` and reports as `transfer` asks.
fn upload(
    source: &dyn ImageSource,
    image: &Image,
    destination: &Destination,
    transfer: &Transfer,
    connection: &Connection,
) -> Result<(), CliError> {
    let credentials =
        DockerConfig::load(&docker_config::default_path()?)?.credentials(&destination.registry)?;
    let registry = connection.registry(&destination.registry, credentials)?;
    let output = if transfer.quiet || transfer.json {
        Output::Quiet
    } else {
        Output::Human
    };
    let progress = Progress::new(output);
    let push = Push {
        source,
        registry,
        destination,
        options: push::Options {
            chunk_size: transfer.chunk_size,
            jobs: usize::from(transfer.jobs),
            cache: transfer
                .cache_dir
                .clone()
                .or_else(Cache::default_dir)
                .map(Cache::new),
        },
        progress: &progress,
    };
    let summary = push.run(image)?;
    if transfer.json {
        println!(
            "{}",
            serde_json::to_string(&summary).expect("the summary serialises")
        );
    } else if !transfer.quiet {
        println!("{}: digest {}", summary.reference, summary.digest);
        println!(
            "pushed {}, mounted {}, skipped {} ({} sent in {:.1} s)",
            summary.pushed,
            summary.mounted,
            summary.skipped,
            bytes(summary.bytes),
            summary.seconds
        );
    }
    Ok(())
}

fn login(
    registry: &str,
    username: Option<String>,
    password_stdin: bool,
    connection: &Connection,
) -> Result<(), CliError> {
    // An echoing prompt would show the password on the screen; there is no hidden one yet.
    let (Some(username), true) = (username, password_stdin) else {
        return Err(CliError::Usage(
            "give the user with --username and the password on standard input with --password-stdin".into(),
        ));
    };
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|e| CliError::Usage(format!("reading the password: {e}")))?;
    let password = password.trim_end_matches(['\r', '\n']).to_string();
    if username.is_empty() || password.is_empty() {
        return Err(CliError::Usage(
            "the username and the password must not be empty".into(),
        ));
    }
    let credentials = Credentials::password(username, password);
    let mut client = connection.registry(registry, Some(credentials.clone()))?;
    client.check_login()?;
    let path = docker_config::default_path()?;
    let mut config = DockerConfig::load(&path)?;
    config.set(registry, &credentials);
    config.save(&path)?;
    println!(
        "Login Succeeded ({} in {})",
        credentials.username,
        path.display()
    );
    Ok(())
}

fn logout(registry: &str) -> Result<(), CliError> {
    let path = docker_config::default_path()?;
    let mut config = DockerConfig::load(&path)?;
    if config.remove(registry) {
        config.save(&path)?;
        println!(
            "Removed the credentials for {registry} from {}",
            path.display()
        );
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(())
}
