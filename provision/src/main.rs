//! `lowpan-provision`: see the crate documentation (src/lib.rs) and `--help`.

use std::process::ExitCode;

use clap::Parser;
use lowpan_provision::options::Args;
use lowpan_provision::{Error, output, plan, render};

fn run(args: &Args) -> Result<(), Error> {
    let options = args.check()?;
    // Refuse before spending time on keys.
    output::prepare_dir(&options.out, options.force)?;
    let dir = render::absolute(&options.out)?;
    let deployment = plan::Deployment::generate(options)?;
    let files = render::files(&deployment, &dir)?;
    let written = output::write_all(&dir, &files)?;
    // Names only: never a key, a PSK or a configuration's text.
    println!(
        "lowpan-provision: {} files in {}",
        written.len(),
        dir.display()
    );
    for f in &files {
        println!("  {}{}", f.name, if f.secret { "  (0600)" } else { "" });
    }
    println!("next: read {}", dir.join("README.txt").display());
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lowpan-provision: {e}");
            ExitCode::FAILURE
        }
    }
}
