use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use async_trait::async_trait;
use lettre::address::Envelope;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, Message};
use orderflow_core::EmailMessage;
use orderflow_core::ports::{MailError, Mailer};
use tempfile::NamedTempFile;

/// Writes each email as an RFC 5322 `.eml` file named after its idempotency key, by writing
/// a file that has no name yet (or a temporary one) and then naming it, never over an
/// existing one. A file that exists was written whole, so sending the same key again is a
/// no-op: exactly one file per (order, status).
///
/// One thread of its own writes the files: the emails waiting together are written, made
/// durable with one flush of the file system, named and their names made
/// durable with one flush of the directory, and only then reported sent: a flush per email
/// made the drain wait on the disk (docs/BENCHMARKS.md).
#[derive(Debug, Clone)]
pub struct FileMailer {
    directory: PathBuf,
    from: Mailbox,
    writes: mpsc::Sender<MailWrite>,
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
    #[error("cannot start the mail writer thread: {0}")]
    Writer(std::io::Error),
}

/// One email for the writer thread, and where to say how its write ended.
#[derive(Debug)]
struct MailWrite {
    target: PathBuf,
    contents: Vec<u8>,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

impl MailWrite {
    fn answer(self, written: Result<(), String>) {
        // The sender may have gone (its delivery was cancelled); the file stands either way.
        let _ = self.done.send(written);
    }
}

/// Most emails one flush covers.
const GROUP: usize = 256;

impl FileMailer {
    pub fn new(directory: &Path, from: &str) -> Result<Self, FileMailerError> {
        std::fs::create_dir_all(directory).map_err(|source| FileMailerError::Directory {
            path: directory.to_owned(),
            source,
        })?;
        let from = from
            .parse()
            .map_err(|_| FileMailerError::Sender(from.to_owned()))?;
        let (writes, jobs) = mpsc::channel();
        let writer_directory = directory.to_owned();
        let staging = Staging::for_directory(directory);
        std::thread::Builder::new()
            .name("mail-writer".to_owned())
            .spawn(move || write_groups(&writer_directory, staging, &jobs))
            .map_err(FileMailerError::Writer)?;
        Ok(Self {
            directory: directory.to_owned(),
            from,
            writes,
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
        let to_address: Address = email
            .to
            .as_str()
            .parse()
            .map_err(|_| MailError::Rejected(format!("invalid recipient {:?}", email.to)))?;
        // Given, the envelope is not parsed back out of the headers just written, which
        // would run lettre's address parser twice more per email.
        let envelope = Envelope::new(Some(self.from.email.clone()), vec![to_address.clone()])
            .map_err(|e| MailError::Rejected(e.to_string()))?;
        let to = Mailbox::new(Some(email.to_name.clone()), to_address);
        let message = Message::builder()
            .envelope(envelope)
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
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &EmailMessage) -> Result<(), MailError> {
        let contents = self.render(email)?;
        let (done, written) = tokio::sync::oneshot::channel();
        let write = MailWrite {
            target: self.path_for(&email.idempotency_key),
            contents,
            done,
        };
        let stopped = || MailError::Transient("the mail writer thread has stopped".to_owned());
        self.writes.send(write).map_err(|_| stopped())?;
        written
            .await
            .map_err(|_| stopped())?
            .map_err(|e| MailError::Transient(format!("cannot write the email file: {e}")))
    }
}

/// The writer thread: takes the emails waiting (up to [`GROUP`]) and writes them together.
/// Ends when every [`FileMailer`] of it is gone.
fn write_groups(directory: &Path, staging: Staging, jobs: &mpsc::Receiver<MailWrite>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        write_group(directory, staging, group);
    }
}

/// Contents durable before the name appears, and the name durable before the email is
/// reported sent: a crash can leave a temporary file behind, never a partial email under
/// its final name (which later deliveries would take for one sent) nor a sent email that is
/// not on disk. An email whose name is already taken was written before: it stands.
fn write_group(directory: &Path, staging: Staging, group: Vec<MailWrite>) {
    let dir = match std::fs::File::open(directory) {
        Ok(dir) => dir,
        Err(e) => {
            let why = format!("cannot open the mail directory: {e}");
            for job in group {
                job.answer(Err(why.clone()));
            }
            return;
        }
    };
    let mut staged = Vec::with_capacity(group.len());
    for job in group {
        match Staged::write(directory, staging, &job.contents) {
            Ok(file) => staged.push((job, file)),
            Err(e) => job.answer(Err(e.to_string())),
        }
    }
    if staged.is_empty() {
        return;
    }
    if let Err(e) = flush_contents(&dir, staged.iter().map(|(_, file)| file)) {
        let why = format!("cannot flush the email files: {e}");
        for (job, _) in staged {
            job.answer(Err(why.clone()));
        }
        return;
    }
    let mut placed = Vec::with_capacity(staged.len());
    for (job, file) in staged {
        match file.place(&job.target) {
            Ok(()) => placed.push(job),
            // Another worker (or an earlier delivery) wrote the same email first.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => placed.push(job),
            Err(e) => job.answer(Err(e.to_string())),
        }
    }
    let named = dir
        .sync_all()
        .map_err(|e| format!("cannot flush the mail directory: {e}"));
    for job in placed {
        job.answer(named.clone());
    }
}

/// How the writer thread keeps an email's file nameless until it is whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Staging {
    /// A file with no name at all until it is linked in (Linux's `O_TMPFILE`): one entry
    /// added to the directory per email. In a directory of a hundred thousand emails, the
    /// temporary name's entry, its rename and the check for an earlier email were half the
    /// mail writer's time in the kernel.
    Unnamed,
    /// A file under a temporary name, renamed into place: where the file system or the
    /// platform cannot make unnamed files.
    Named,
}

impl Staging {
    /// Unnamed where the mail directory takes an unnamed file and gives it a name (tried
    /// once, with a file of its own that is removed again); named otherwise.
    fn for_directory(directory: &Path) -> Self {
        #[cfg(target_os = "linux")]
        {
            let probe = directory.join(format!(".probe-{}", uuid::Uuid::now_v7().simple()));
            let linked = unnamed::create(directory).and_then(|file| unnamed::link(&file, &probe));
            if linked.is_ok() {
                // A probe left behind is only a stray hidden file.
                let _ = std::fs::remove_file(&probe);
                return Self::Unnamed;
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = directory;
        Self::Named
    }
}

/// An email's contents in a file of the mail directory, not yet flushed nor named.
enum Staged {
    #[cfg(target_os = "linux")]
    Unnamed(std::fs::File),
    Named(NamedTempFile),
}

impl Staged {
    fn write(directory: &Path, staging: Staging, contents: &[u8]) -> std::io::Result<Self> {
        #[cfg(target_os = "linux")]
        if staging == Staging::Unnamed {
            let mut file = unnamed::create(directory)?;
            file.write_all(contents)?;
            return Ok(Self::Unnamed(file));
        }
        #[cfg(not(target_os = "linux"))]
        let _ = staging;
        let mut temporary = NamedTempFile::new_in(directory)?;
        temporary.write_all(contents)?;
        Ok(Self::Named(temporary))
    }

    #[cfg(not(target_os = "linux"))]
    fn file(&self) -> &std::fs::File {
        match self {
            #[cfg(target_os = "linux")]
            Self::Unnamed(file) => file,
            Self::Named(temporary) => temporary.as_file(),
        }
    }

    /// Gives the file its name; fails with `AlreadyExists`, leaving the earlier file, when
    /// the name is taken.
    fn place(self, target: &Path) -> std::io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Self::Unnamed(file) => unnamed::link(&file, target),
            Self::Named(temporary) => temporary
                .persist_noclobber(target)
                .map(drop)
                .map_err(|e| e.error),
        }
    }
}

/// Files made with `O_TMPFILE` and linked in through `/proc/self/fd`, which needs no
/// privilege (unlike `AT_EMPTY_PATH`).
#[cfg(target_os = "linux")]
mod unnamed {
    use std::os::fd::AsRawFd;
    use std::path::Path;

    use rustix::fs::{AtFlags, CWD, Mode, OFlags};

    pub(super) fn create(directory: &Path) -> std::io::Result<std::fs::File> {
        let fd = rustix::fs::open(
            directory,
            OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        )?;
        Ok(std::fs::File::from(fd))
    }

    pub(super) fn link(file: &std::fs::File, target: &Path) -> std::io::Result<()> {
        let source = format!("/proc/self/fd/{}", file.as_raw_fd());
        rustix::fs::linkat(CWD, source.as_str(), CWD, target, AtFlags::SYMLINK_FOLLOW)
            .map_err(std::io::Error::from)
    }
}

/// Makes the staged files' contents durable: on Linux one `syncfs` of the mail directory's
/// file system (one journal commit for the whole group), elsewhere an fsync per file.
#[cfg(target_os = "linux")]
fn flush_contents<'a>(
    dir: &std::fs::File,
    _files: impl Iterator<Item = &'a Staged>,
) -> std::io::Result<()> {
    rustix::fs::syncfs(dir).map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn flush_contents<'a>(
    _dir: &std::fs::File,
    mut files: impl Iterator<Item = &'a Staged>,
) -> std::io::Result<()> {
    files.try_for_each(|file| file.file().sync_all())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use orderflow_core::Email;

    fn email(key: &str, text: &str) -> EmailMessage {
        EmailMessage {
            to: Email::parse("ada@example.com").unwrap(),
            to_name: "Ada".to_owned(),
            subject: format!("about {key}"),
            text: text.to_owned(),
            html: format!("<p>{text}</p>"),
            idempotency_key: key.to_owned(),
        }
    }

    fn files_in(directory: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn emails_sent_together_are_each_written_whole_under_their_own_name() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(dir.path(), "orders@example.com").unwrap();
        let sends = (0..50).map(|i| {
            let mailer = mailer.clone();
            tokio::spawn(async move {
                let key = format!("order-{i:02}:processed");
                mailer.send(&email(&key, &format!("body {i}"))).await
            })
        });
        for sent in futures::future::join_all(sends).await {
            sent.unwrap().unwrap();
        }
        let names = files_in(dir.path());
        assert_eq!(names.len(), 50, "no temporary file left: {names:?}");
        for i in 0..50 {
            let path = mailer.path_for(&format!("order-{i:02}:processed"));
            let written = std::fs::read_to_string(&path).unwrap();
            assert!(written.contains(&format!("body {i}")), "{written}");
            assert!(written.contains("Subject: about order-"), "{written}");
        }
    }

    #[tokio::test]
    async fn sending_a_key_again_keeps_the_first_email() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(dir.path(), "orders@example.com").unwrap();
        mailer.send(&email("k:processed", "first")).await.unwrap();
        mailer.send(&email("k:processed", "second")).await.unwrap();
        let written = std::fs::read_to_string(mailer.path_for("k:processed")).unwrap();
        assert!(written.contains("first") && !written.contains("second"));
        assert_eq!(files_in(dir.path()), ["k_processed.eml"]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_local_directory_takes_unnamed_files_and_the_probe_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Staging::for_directory(dir.path()), Staging::Unnamed);
        assert!(files_in(dir.path()).is_empty());
    }

    /// Both ways of staging write each email whole under its name, once.
    #[test]
    fn either_staging_writes_each_email_once_under_its_name() {
        for staging in [Staging::Unnamed, Staging::Named] {
            let dir = tempfile::tempdir().unwrap();
            let mailer = FileMailer::new(dir.path(), "orders@example.com").unwrap();
            let mut answers = Vec::new();
            let jobs = ["a:processed", "b:processed", "a:processed"].map(|key| {
                let (done, answer) = tokio::sync::oneshot::channel();
                answers.push(answer);
                MailWrite {
                    target: mailer.path_for(key),
                    contents: format!("body of {key} #{}", answers.len()).into_bytes(),
                    done,
                }
            });
            write_group(dir.path(), staging, jobs.into());
            for answer in answers {
                answer.blocking_recv().unwrap().unwrap();
            }
            assert_eq!(
                files_in(dir.path()),
                ["a_processed.eml", "b_processed.eml"],
                "{staging:?}"
            );
            let first = std::fs::read_to_string(mailer.path_for("a:processed")).unwrap();
            assert_eq!(first, "body of a:processed #1", "{staging:?}");
        }
    }

    #[tokio::test]
    async fn an_unwritable_directory_is_a_transient_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mail_dir = dir.path().join("mail");
        let mailer = FileMailer::new(&mail_dir, "orders@example.com").unwrap();
        std::fs::remove_dir(&mail_dir).unwrap();
        let failed = mailer.send(&email("k:processed", "body")).await;
        assert!(matches!(failed, Err(MailError::Transient(_))), "{failed:?}");
        // The writer thread outlives a failed group.
        std::fs::create_dir(&mail_dir).unwrap();
        mailer.send(&email("k:processed", "body")).await.unwrap();
        assert_eq!(files_in(&mail_dir), ["k_processed.eml"]);
    }
}
