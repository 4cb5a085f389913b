use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use orderflow_core::EmailMessage;
use orderflow_core::ports::{MailError, Mailer};

/// SES answers that mean "not now": retried by the SDK with backoff, then by redelivery.
const THROTTLING_CODES: &[&str] = &[
    "TooManyRequestsException",
    "LimitExceededException",
    "Throttling",
    "ThrottlingException",
    "ServiceUnavailable",
    "InternalFailure",
];

#[derive(Debug, Clone)]
pub struct SesSettings {
    /// The verified sender, e.g. `orders@example.com` or `Shop <orders@example.com>`.
    pub from: String,
    pub configuration_set: Option<String>,
    /// Attempts of one send, throttling and transient failures retried by the SDK with
    /// jittered exponential backoff, before the failure goes back to the worker (which
    /// retries the order later).
    pub attempts: u32,
    pub retry_base: Duration,
    /// SES's own endpoint (`AWS_ENDPOINT_URL_SESV2`), over the shared `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
}

impl SesSettings {
    pub fn new(from: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            configuration_set: None,
            attempts: 4,
            retry_base: Duration::from_millis(200),
            endpoint_url: None,
        }
    }
}

/// Order emails through SES v2, text and HTML, the same messages the file mailer writes.
#[derive(Clone)]
pub struct SesMailer {
    client: Client,
    settings: SesSettings,
}

impl SesMailer {
    pub fn new(sdk: &aws_config::SdkConfig, settings: SesSettings) -> Self {
        let retry = RetryConfig::standard()
            .with_max_attempts(settings.attempts.max(1))
            .with_initial_backoff(settings.retry_base);
        let mut config = aws_sdk_sesv2::config::Builder::from(sdk).retry_config(retry);
        if let Some(endpoint) = &settings.endpoint_url {
            config = config.endpoint_url(endpoint);
        }
        let config = config.build();
        Self {
            client: Client::from_conf(config),
            settings,
        }
    }

    fn content(message: &EmailMessage) -> Result<EmailContent, MailError> {
        let text = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| MailError::Rejected(e.to_string()))
        };
        let body = Body::builder()
            .text(text(&message.text)?)
            .html(text(&message.html)?)
            .build();
        Ok(EmailContent::builder()
            .simple(
                Message::builder()
                    .subject(text(&message.subject)?)
                    .body(body)
                    .build(),
            )
            .build())
    }
}

/// A display name safe inside an address header.
fn quoted_display_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' || c == '\\' { '\'' } else { c })
        .collect();
    format!("\"{cleaned}\"")
}

fn classify(
    error: SdkError<SendEmailError, aws_sdk_sesv2::config::http::HttpResponse>,
) -> MailError {
    let described = DisplayErrorContext(&error).to_string();
    match &error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let status = service.raw().status().as_u16();
            if THROTTLING_CODES.contains(&code) || status == 429 || status >= 500 {
                MailError::Transient(described)
            } else {
                MailError::Rejected(described)
            }
        }
        // Timeouts, connection failures, unreadable answers: the message may not have left.
        _ => MailError::Transient(described),
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        // SES takes a display name in ASCII only (others need RFC 2047 encoding).
        let to = if message.to_name.is_ascii() && !message.to_name.trim().is_empty() {
            format!(
                "{} <{}>",
                quoted_display_name(&message.to_name),
                message.to.as_str()
            )
        } else {
            message.to.as_str().to_owned()
        };
        self.client
            .send_email()
            .from_email_address(&self.settings.from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(Self::content(message)?)
            .set_configuration_set_name(self.settings.configuration_set.clone())
            .send()
            .await
            .map(drop)
            .map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use super::quoted_display_name;

    #[test]
    fn display_names_cannot_break_the_header() {
        assert_eq!(quoted_display_name("Ann \"A\"\r\n"), "\"Ann 'A'\"");
    }
}
