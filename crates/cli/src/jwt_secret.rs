use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const FILE_NAME: &str = "jwt-secret";

/// The JWT secret kept in `DATA_DIR` for the no-configuration default: generated once
/// (readable by the owner only), then reused so tokens survive restarts.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create DATA_DIR {}", data_dir.display()))?;
    let path = data_dir.join(FILE_NAME);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    match options.open(&path) {
        Ok(mut file) => {
            let mut secret = [0u8; 48];
            getrandom::fill(&mut secret)
                .map_err(|e| anyhow::anyhow!("cannot read OS randomness: {e}"))?;
            let encoded = STANDARD.encode(secret);
            file.write_all(encoded.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a JWT secret; set JWT_SECRET to manage it yourself");
            Ok(encoded.into_bytes())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let mut contents = String::new();
            std::fs::File::open(&path)
                .and_then(|mut f| f.read_to_string(&mut contents))
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(contents.trim().as_bytes().to_vec())
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}
