use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use orderflow_core::EmailMessage;
use orderflow_core::ports::{MailError, Mailer};

/// Writes each email as an RFC 5322 `.eml` file named after its idempotency key, by writing
/// a temporary file and renaming it into place. A file that exists was written whole, so
/// sending the same key again is a no-op: exactly one file per (order, status).
#[derive(Debug, Clone)]
pub struct FileMailer {
    directory: PathBuf,
    from: Mailbox,
}

#[derive(Debug, thiserror::Error)]
pub enum FileMailerError {
    #[error("cannot create the mail directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the sender address {0:?} is not valid")]
    Sender(String),
}

impl FileMailer {
    pub fn new(directory: &Path, from: &str) -> Result<Self, FileMailerError> {
        std::fs::create_dir_all(directory).map_err(|source| FileMailerError::Directory {
            path: directory.to_owned(),
            source,
        })?;
        let from = from
            .parse()
            .map_err(|_| FileMailerError::Sender(from.to_owned()))?;
        Ok(Self {
            directory: directory.to_owned(),
            from,
        })
    }

    pub fn path_for(&self, idempotency_key: &str) -> PathBuf {
        let safe: String = idempotency_key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.directory.join(format!("{safe}.eml"))
    }

    fn render(&self, email: &EmailMessage) -> Result<Vec<u8>, MailError> {
        let to =
            Mailbox::new(
                Some(email.to_name.clone()),
                email.to.as_str().parse().map_err(|_| {
                    MailError::Rejected(format!("invalid recipient {:?}", email.to))
                })?,
            );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| MailError::Rejected(e.to_string()))?;
        Ok(message.formatted())
    }

    fn write_once(&self, key: &str, contents: &[u8]) -> std::io::Result<()> {
        let target = self.path_for(key);
        if target.exists() {
            return Ok(());
        }
        let mut temporary = tempfile::NamedTempFile::new_in(&self.directory)?;
        temporary.write_all(contents)?;
        temporary.as_file().sync_all()?;
        match temporary.persist_noclobber(&target) {
            Ok(_) => Ok(()),
            // Another worker wrote the same email first: that one stands.
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e.error),
        }
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &EmailMessage) -> Result<(), MailError> {
        let contents = self.render(email)?;
        let mailer = self.clone();
        let key = email.idempotency_key.clone();
        tokio::task::spawn_blocking(move || mailer.write_once(&key, &contents))
            .await
            .map_err(|e| MailError::Transient(e.to_string()))?
            .map_err(|e| MailError::Transient(format!("cannot write the email file: {e}")))
    }
}
