//! The AWS emulator as tests use it: an SDK configuration pointing at it, fresh queues with
//! a dead-letter queue, verified senders, and the emails it has accepted.
use aws_config::BehaviorVersion;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::services::aws_endpoint;

pub const REGION: &str = "us-east-1";

/// The SDK configuration a test adapter is built with: the emulator's endpoint and dummy
/// keys, exactly what `AWS_ENDPOINT_URL` and the key variables give the binary.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(aws_endpoint())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// The environment that points the binary at the emulator.
pub fn binary_env() -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", aws_endpoint()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A new queue of its own with a dead-letter queue taking messages received more than
/// `max_receives` times; returns the queue's URL.
pub async fn fresh_queue(name: &str, max_receives: u32) -> String {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    let unique = format!("{name}-{}", uuid::Uuid::now_v7().simple());
    let dead_letters = sqs
        .create_queue()
        .queue_name(format!("{unique}-dlq"))
        .send()
        .await
        .expect("the emulator creates the dead-letter queue");
    let dead_letter_arn = sqs
        .get_queue_attributes()
        .queue_url(dead_letters.queue_url().expect("a queue URL"))
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("the dead-letter queue has attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("the dead-letter queue has an ARN");
    let policy = serde_json::json!({
        "deadLetterTargetArn": dead_letter_arn,
        "maxReceiveCount": max_receives,
    });
    sqs.create_queue()
        .queue_name(unique)
        .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
        .send()
        .await
        .expect("the emulator creates the queue")
        .queue_url()
        .expect("a queue URL")
        .to_owned()
}

/// What the queue holds, read straight from SQS: (visible, in flight, in its DLQ).
pub async fn peek_messages(queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    sqs.receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .message_attribute_names("All")
        .send()
        .await
        .expect("the emulator answers")
        .messages
        .unwrap_or_default()
}

/// Lets SES send from `sender` (an address or a domain).
pub async fn verify_sender(sender: &str) {
    let ses = aws_sdk_sesv2::Client::new(&sdk_config().await);
    ses.create_email_identity()
        .email_identity(sender)
        .send()
        .await
        .expect("the emulator verifies the sender");
}

/// Every email the emulator's SES accepted to `recipient`, as it records them (`source`,
/// `destinations`, `subject`, `body`: the HTML part).
pub async fn emails_to(recipient: &str) -> Vec<Value> {
    let data = emulator_data().await;
    data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|message| message["destinations"].to_string().contains(recipient))
        .collect()
}

/// The emulator's dump of every model it holds. The dump checks each attribute can be
/// written as JSON, then reads it again to write it: a queue that takes a message in
/// between fails the whole dump (a 500, "Message is not JSON serializable"), so a failed
/// dump is asked for again, a few times.
async fn emulator_data() -> Value {
    let url = format!("{}/moto-api/data.json", aws_endpoint());
    let mut failure = String::new();
    for _ in 0..20 {
        let answer = reqwest::get(&url).await.expect("the emulator answers");
        let status = answer.status();
        let body = answer
            .text()
            .await
            .expect("the emulator's answer has a body");
        if status.is_success()
            && let Ok(data) = serde_json::from_str(&body)
        {
            return data;
        }
        failure = format!("{status}: {}", body.chars().take(200).collect::<String>());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the emulator's data dump kept failing: {failure}");
}
