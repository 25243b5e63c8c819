//! `lowpan-br`: the 6LoWPAN border-router daemon. See `lowpan-br --help` and br/README.md.

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
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Validate the configuration and exit: 0 when valid, 1 with the bad keys and why.
    #[arg(long)]
    check_config: bool,
    /// Print the commented default configuration and exit.
    #[arg(long, conflicts_with_all = ["config", "check_config"])]
    print_default_config: bool,
    #[command(subcommand)]
    command: Option<ops::service::Command>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_default_config {
        print!("{DEFAULT_CONFIG_TOML}");
        return ExitCode::SUCCESS;
    }
    if let Some(command) = &cli.command {
        let configured = |c: &std::path::Path| {
            Config::load(Some(c), std::env::vars())
                .map(|cfg| cfg.control.socket)
                .map_err(|e| e.to_string())
        };
        return command.run(
            "lowpan-br",
            cli.config.as_deref(),
            configured,
            lowpan_br::config::DEFAULT_CONTROL_SOCKET,
        );
    }
    let cfg = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lowpan-br: {e}");
            return ExitCode::FAILURE;
        }
    };
    let origin = cli.config.as_ref().map_or_else(
        || "<defaults and environment>".to_string(),
        |p| p.display().to_string(),
    );
    if cli.check_config {
        // Also read what the daemon would read at start: IoTSSP configurations,
        // certificates and key files.
        let now = std::time::Instant::now();
        if let Err(issues) = lowpan_br::iotssp_wiring::build(
            &cfg,
            now,
            std::time::SystemTime::now(),
            0,
            dtls::provider::OsRandom::shared(),
        ) {
            eprintln!(
                "lowpan-br: {}",
                lowpan_br::config::ConfigError::Invalid(issues)
            );
            return ExitCode::FAILURE;
        }
        println!("lowpan-br: configuration OK: {origin}");
        return ExitCode::SUCCESS;
    }
    let log = ops::service::init_logging(&cfg.log.level);
    tracing::info!(config = %origin, version = env!("CARGO_PKG_VERSION"), "lowpan-br starting");
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lowpan-br: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = lowpan_br::daemon::Options {
        config_path: cli.config.clone(),
        set_log_level: Box::new(move |level: &str| log.set(level)),
    };
    match rt.block_on(lowpan_br::daemon::run_with(cfg, opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lowpan-br: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
