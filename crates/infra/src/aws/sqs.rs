use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    QueueAttributeName, SendMessageBatchRequestEntry,
};
use orderflow_core::ports::{OutgoingMessage, Queue, QueueDepth, QueueError, ReceivedMessage};
use time::OffsetDateTime;

/// Error codes SQS answers for a receipt handle that no longer names an in-flight delivery.
const STALE_RECEIPT_CODES: &[&str] = &[
    "ReceiptHandleIsInvalid",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
    "InvalidParameterValue",
];

#[derive(Debug, thiserror::Error)]
pub enum SqsQueueError {
    #[error("cannot read the attributes of SQS queue {url}: {message}")]
    Attributes { url: String, message: String },
    #[error("SQS queue {url} has an unreadable redrive policy: {message}")]
    RedrivePolicy { url: String, message: String },
    #[error(
        "SQS queue {url} has no redrive policy: give it a dead-letter queue (RedrivePolicy with \
         deadLetterTargetArn and maxReceiveCount), where orders that keep failing are kept"
    )]
    NoDeadLetterQueue { url: String },
}

/// An SQS queue and the dead-letter queue of its redrive policy.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    dead_letter_url: String,
    max_receives: u32,
}

impl SqsQueue {
    /// Reads the queue's redrive policy: its `maxReceiveCount` is when the worker takes the
    /// dead-letter path, and its dead-letter queue is counted in the depth.
    pub async fn connect(
        sdk: &aws_config::SdkConfig,
        url: impl Into<String>,
    ) -> Result<Self, SqsQueueError> {
        let client = Client::new(sdk);
        let url = url.into();
        let attributes = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| SqsQueueError::Attributes {
                url: url.clone(),
                message: DisplayErrorContext(&e).to_string(),
            })?;
        let policy = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy));
        let Some(policy) = policy else {
            return Err(SqsQueueError::NoDeadLetterQueue { url });
        };
        let bad = |message: String| SqsQueueError::RedrivePolicy {
            url: url.clone(),
            message,
        };
        let policy: RedrivePolicy = serde_json::from_str(policy).map_err(|e| bad(e.to_string()))?;
        let dead_letter_url = client
            .get_queue_url()
            .queue_name(policy.queue_name())
            .set_queue_owner_aws_account_id(policy.account_id().map(str::to_owned))
            .send()
            .await
            .map_err(|e| bad(DisplayErrorContext(&e).to_string()))?
            .queue_url
            .ok_or_else(|| bad("the dead-letter queue has no URL".to_owned()))?;
        let max_receives = policy.max_receive_count.get();
        Ok(Self {
            client,
            url,
            dead_letter_url,
            max_receives,
        })
    }
}

/// `{"deadLetterTargetArn": "arn:aws:sqs:region:account:name", "maxReceiveCount": 5}`;
/// SQS writes the count as a number, some tools as a string.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RedrivePolicy {
    dead_letter_target_arn: String,
    #[serde(deserialize_with = "number_or_string")]
    max_receive_count: std::num::NonZeroU32,
}

impl RedrivePolicy {
    fn arn_part(&self, index: usize) -> Option<&str> {
        self.dead_letter_target_arn.split(':').nth(index)
    }

    fn queue_name(&self) -> &str {
        self.arn_part(5).unwrap_or(&self.dead_letter_target_arn)
    }

    fn account_id(&self) -> Option<&str> {
        self.arn_part(4).filter(|id| !id.is_empty())
    }
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<std::num::NonZeroU32, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u32),
        Text(String),
    }
    let n = match <Raw as serde::Deserialize>::deserialize(deserializer)? {
        Raw::Number(n) => n,
        Raw::Text(s) => s.trim().parse().map_err(serde::de::Error::custom)?,
    };
    std::num::NonZeroU32::new(n).ok_or_else(|| serde::de::Error::custom("maxReceiveCount is 0"))
}

/// Whole seconds, rounded up, as SQS takes them.
fn seconds(duration: Duration) -> i32 {
    let whole = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(whole).unwrap_or(i32::MAX)
}

fn unavailable<E, R>(error: SdkError<E, R>) -> QueueError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    QueueError::Unavailable(DisplayErrorContext(&error).to_string())
}

/// A stale receipt, or the queue being unavailable.
fn receipt_error<E, R>(error: SdkError<E, R>) -> QueueError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let stale = error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| STALE_RECEIPT_CODES.contains(&code));
    if stale {
        QueueError::StaleReceipt
    } else {
        unavailable(error)
    }
}

fn count(attributes: &HashMap<QueueAttributeName, String>, name: &QueueAttributeName) -> u64 {
    attributes
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, message: &OutgoingMessage) -> Result<String, QueueError> {
        let sent = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(&message.body)
            .set_message_attributes(message_attributes(message)?)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(sent.message_id.unwrap_or_default())
    }

    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Vec<Result<String, QueueError>> {
        let mut outcomes = Vec::with_capacity(messages.len());
        // SendMessageBatch takes at most ten entries.
        for chunk in messages.chunks(10) {
            outcomes.extend(self.send_chunk(chunk).await);
        }
        outcomes
    }

    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let received = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .wait_time_seconds(seconds(wait).min(20))
            .visibility_timeout(seconds(visibility))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(unavailable)?;
        let messages = received
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|message| {
                let system = message.attributes.unwrap_or_default();
                let receive_count = system
                    .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                let sent_at = system
                    .get(&MessageSystemAttributeName::SentTimestamp)
                    .and_then(|v| v.parse::<i128>().ok())
                    .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok())
                    .unwrap_or_else(OffsetDateTime::now_utc);
                let attributes: BTreeMap<String, String> = message
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(name, value)| value.string_value.map(|v| (name, v)))
                    .collect();
                ReceivedMessage {
                    id: message.message_id.unwrap_or_default(),
                    receipt: message.receipt_handle.unwrap_or_default(),
                    body: message.body.unwrap_or_default(),
                    attributes,
                    receive_count,
                    sent_at,
                }
            })
            .collect();
        Ok(messages)
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(timeout))
            .send()
            .await
            .map_err(receipt_error)?;
        Ok(())
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(receipt_error)?;
        Ok(())
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let main = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(unavailable)?;
        let main = main.attributes.unwrap_or_default();
        let dead = self
            .client
            .get_queue_attributes()
            .queue_url(&self.dead_letter_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(unavailable)?;
        let dead_lettered = count(
            &dead.attributes.unwrap_or_default(),
            &QueueAttributeName::ApproximateNumberOfMessages,
        );
        Ok(QueueDepth {
            visible: count(&main, &QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(
                &main,
                &QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            ),
            dead_lettered,
        })
    }

    fn max_receives(&self) -> u32 {
        self.max_receives
    }

    /// One DeleteMessageBatch call for up to ten deliveries.
    async fn delete_batch(&self, receipts: &[String]) -> Vec<Result<(), QueueError>> {
        let entries: Result<Vec<_>, _> = receipts
            .iter()
            .enumerate()
            .map(|(index, receipt)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(receipt)
                    .build()
            })
            .collect();
        let answer = match entries {
            Ok(entries) => self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(unavailable),
            Err(e) => Err(QueueError::Unavailable(e.to_string())),
        };
        per_entry(receipts.len(), answer, |output, id| {
            match output.failed().iter().find(|f| f.id() == id) {
                None => Ok(()),
                Some(f) if STALE_RECEIPT_CODES.contains(&f.code()) => Err(QueueError::StaleReceipt),
                Some(f) => Err(QueueError::Unavailable(f.code().to_owned())),
            }
        })
    }
}

impl SqsQueue {
    /// One SendMessageBatch of up to ten messages; each one's id or error, in order.
    async fn send_chunk(&self, messages: &[OutgoingMessage]) -> Vec<Result<String, QueueError>> {
        let entries: Result<Vec<_>, QueueError> = messages
            .iter()
            .enumerate()
            .map(|(index, message)| {
                SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_body(&message.body)
                    .set_message_attributes(message_attributes(message)?)
                    .build()
                    .map_err(|e| QueueError::Unavailable(e.to_string()))
            })
            .collect();
        let answer = match entries {
            Ok(entries) => self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(unavailable),
            Err(e) => Err(e),
        };
        per_entry(messages.len(), answer, |output, id| {
            if let Some(sent) = output.successful().iter().find(|s| s.id() == id) {
                return Ok(sent.message_id().to_owned());
            }
            let code = output
                .failed()
                .iter()
                .find(|f| f.id() == id)
                .map(|f| f.code());
            Err(QueueError::Unavailable(
                code.unwrap_or("the batch answer does not name the message")
                    .to_owned(),
            ))
        })
    }
}

/// Each entry's outcome of a batch call whose entries are named by their index; when the
/// call itself failed, every entry fails with its error.
fn per_entry<O, T>(
    count: usize,
    answer: Result<O, QueueError>,
    outcome: impl Fn(&O, &str) -> Result<T, QueueError>,
) -> Vec<Result<T, QueueError>> {
    match answer {
        Ok(output) => (0..count)
            .map(|index| outcome(&output, &index.to_string()))
            .collect(),
        Err(e) => (0..count).map(|_| Err(e.clone())).collect(),
    }
}

/// The message's attributes as SQS string attributes; `None` when it has none.
fn message_attributes(
    message: &OutgoingMessage,
) -> Result<Option<HashMap<String, MessageAttributeValue>>, QueueError> {
    let mut attributes = HashMap::new();
    for (name, value) in &message.attributes {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        attributes.insert(name.clone(), value);
    }
    Ok(Some(attributes).filter(|a| !a.is_empty()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policies_name_the_dead_letter_queue_and_the_limit() {
        let policy: RedrivePolicy = serde_json::from_str(
            r#"{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:123456789012:orders-dlq","maxReceiveCount":"5"}"#,
        )
        .unwrap();
        assert_eq!(policy.queue_name(), "orders-dlq");
        assert_eq!(policy.account_id(), Some("123456789012"));
        assert_eq!(policy.max_receive_count.get(), 5);
        assert!(
            serde_json::from_str::<RedrivePolicy>(
                r#"{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:1:q","maxReceiveCount":0}"#
            )
            .is_err()
        );
    }

    #[test]
    fn durations_round_up_to_whole_seconds() {
        assert_eq!(seconds(Duration::ZERO), 0);
        assert_eq!(seconds(Duration::from_millis(300)), 1);
        assert_eq!(seconds(Duration::from_secs(20)), 20);
    }
}
