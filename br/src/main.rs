//! `lowpan-br`: the 6LoWPAN border-router daemon. See `lowpan-br --help` and br/README.md.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lowpan_br::config::{Config, DEFAULT_CONFIG_TOML};

/// 6LoWPAN border router: bridges an IEEE 802.15.4 radio (slip-radio on a serial port or
/// TCP, or ZEP over UDP) to a Linux TUN interface.
#[derive(Parser, Debug)]
#[command(name = "lowpan-br", version)]
struct Cli {
    /// Configuration file (TOML). Without it, defaults and LOWPAN_* environment variables apply.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate the configuration and exit: 0 when valid, 1 with the bad keys and why.
    #[arg(long)]
    check_config: bool,
    /// Print the commented default configuration and exit.
    #[arg(long, conflicts_with_all = ["config", "check_config"])]
    print_default_config: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_default_config {
        print!("{DEFAULT_CONFIG_TOML}");
        return ExitCode::SUCCESS;
    }
    let cfg = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lowpan-br: {e}");
            return ExitCode::FAILURE;
        }
    };
    let origin = cli.config.as_ref().map_or_else(|| "<defaults and environment>".to_string(), |p| p.display().to_string());
    if cli.check_config {
        // Also read what the daemon would read at start: IoTSSP configurations,
        // certificates and key files.
        let now = std::time::Instant::now();
        if let Err(issues) = lowpan_br::iotssp_wiring::build(&cfg, now, std::time::SystemTime::now(), 0) {
            eprintln!("lowpan-br: {}", lowpan_br::config::ConfigError::Invalid(issues));
            return ExitCode::FAILURE;
        }
        println!("lowpan-br: configuration OK: {origin}");
        return ExitCode::SUCCESS;
    }
    init_logging(&cfg.log.level);
    tracing::info!(config = %origin, version = env!("CARGO_PKG_VERSION"), "lowpan-br starting");
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lowpan-br: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(lowpan_br::daemon::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lowpan-br: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(v).unwrap_or_else(|_| EnvFilter::new(level)),
        _ => EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info")),
    };
    // Colour only for a person at a terminal; under systemd the journal stamps each line
    // itself (JOURNAL_STREAM is set when stderr is connected to it), so no second timestamp.
    let ansi = std::io::stderr().is_terminal();
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        fmt.without_time().init();
    } else {
        fmt.init();
    }
}
