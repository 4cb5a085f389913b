use std::sync::Arc;

use async_trait::async_trait;
use orderflow_core::EmailMessage;
use orderflow_core::ports::{MailError, Mailer};
use tracing::field::Empty;

use super::Dependency;
use crate::Metrics;

/// A [`Mailer`] whose every send is a client span and a `dependency="mail"` duration.
pub struct InstrumentedMailer {
    inner: Arc<dyn Mailer>,
    dependency: Dependency,
}

impl InstrumentedMailer {
    /// `system` names the service that takes the mail: `aws_ses`, `file`.
    pub fn new(inner: Arc<dyn Mailer>, system: &'static str, metrics: Arc<Metrics>) -> Self {
        Self {
            inner,
            dependency: Dependency {
                kind: "mail",
                system,
                metrics,
            },
        }
    }
}

#[async_trait]
impl Mailer for InstrumentedMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        // Email has no semantic conventions of its own: the system names the service.
        let span = super::within_work(|| {
            tracing::info_span!(
                "mail",
                otel.name = "send mail",
                otel.kind = "client",
                mail.system = self.dependency.system,
                error.type = Empty,
                otel.status_code = Empty,
            )
        });
        self.dependency
            .call("send", span, self.inner.send(message))
            .await
    }
}
