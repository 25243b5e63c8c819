//! Writing a deployment: refuse a non-empty directory unless forced, create secret files
//! 0600 from the start (never widen-then-narrow), and replace files rather than truncate
//! them so an old file's looser mode is not inherited.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::Error;
use crate::render::File;

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Creates `dir` (0700) if missing; refuses one with anything in it unless `force`.
pub fn prepare_dir(dir: &Path, force: bool) -> Result<(), Error> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                return Err(Error::NotEmpty(dir.to_owned()));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io(dir, e)),
        Err(e) => Err(io(dir, e)),
    }
}

/// Writes every file into `dir`; returns their paths.
pub fn write_all(dir: &Path, files: &[File]) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::with_capacity(files.len());
    for f in files {
        let path = dir.join(&f.name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, e)),
        }
        let mode = if f.secret { 0o600 } else { 0o644 };
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        out.write_all(f.text.as_bytes()).map_err(|e| io(&path, e))?;
        out.sync_all().map_err(|e| io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}
