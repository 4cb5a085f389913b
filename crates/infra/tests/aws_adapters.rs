//! The queue contract against SQS and the SES mailer, on the AWS emulator.
#![allow(clippy::unwrap_used)]

use orderflow_core::ports::{MailError, Mailer};
use orderflow_core::{Email, EmailMessage};
use orderflow_infra::aws::{SesMailer, SesSettings, SqsQueue};
use orderflow_testkit::aws;
use orderflow_testkit::queue_contract::MAX_RECEIVES;

mod sqs {
    use super::*;

    async fn fresh() -> (SqsQueue, ()) {
        let url = aws::fresh_queue("contract", MAX_RECEIVES).await;
        let queue = SqsQueue::connect(&aws::sdk_config().await, url)
            .await
            .unwrap();
        (queue, ())
    }

    orderflow_testkit::queue_contract_tests!(fresh);

    #[tokio::test]
    async fn the_receive_limit_comes_from_the_redrive_policy() {
        let url = aws::fresh_queue("limit", 7).await;
        let queue = SqsQueue::connect(&aws::sdk_config().await, url)
            .await
            .unwrap();
        assert_eq!(orderflow_core::ports::Queue::max_receives(&queue), 7);
    }

    #[tokio::test]
    async fn a_queue_that_does_not_exist_is_reported_at_start() {
        let url = format!(
            "{}/123456789012/no-such-queue",
            orderflow_testkit::services::aws_endpoint()
        );
        let error = SqsQueue::connect(&aws::sdk_config().await, url)
            .await
            .err()
            .expect("refused");
        assert!(error.to_string().contains("no-such-queue"), "{error}");
    }
}

#[tokio::test]
async fn a_queue_without_a_dead_letter_queue_is_refused_with_advice() {
    let sdk = aws::sdk_config().await;
    let name = format!("no-dlq-{}", uuid::Uuid::now_v7().simple());
    let url = aws_sdk_sqs::Client::new(&sdk)
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let error = SqsQueue::connect(&sdk, url).await.err().expect("refused");
    assert!(error.to_string().contains("RedrivePolicy"), "{error}");
}

fn message(to: &str, key: &str) -> EmailMessage {
    EmailMessage {
        to: Email::parse(to).unwrap(),
        to_name: "Ann Example".to_owned(),
        subject: "Your order 42 is confirmed".to_owned(),
        text: "Thank you for your order 42.".to_owned(),
        html: "<p>Thank you for your order <b>42</b>.</p>".to_owned(),
        idempotency_key: key.to_owned(),
    }
}

#[tokio::test]
async fn ses_sends_text_and_html_from_the_configured_sender() {
    let sender = format!("orders-{}@shop.example", uuid::Uuid::now_v7().simple());
    aws::verify_sender(&sender).await;
    let mailer = SesMailer::new(&aws::sdk_config().await, SesSettings::new(sender.clone()));
    let to = format!("ann-{}@example.com", uuid::Uuid::now_v7().simple());
    mailer.send(&message(&to, "o1-processed")).await.unwrap();
    let sent = aws::emails_to(&to).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let text = sent[0].to_string();
    assert!(text.contains(&sender));
    assert!(text.contains("Your order 42 is confirmed"));
    assert!(text.contains("<b>42</b>"), "HTML part sent: {text}");
}

#[tokio::test]
async fn an_unverified_sender_is_a_rejection_not_a_retry() {
    let mailer = SesMailer::new(
        &aws::sdk_config().await,
        SesSettings::new("nobody@unverified.example"),
    );
    let to = format!("bob-{}@example.com", uuid::Uuid::now_v7().simple());
    let result = mailer.send(&message(&to, "o2-processed")).await;
    assert!(matches!(result, Err(MailError::Rejected(_))), "{result:?}");
    assert!(aws::emails_to(&to).await.is_empty());
}
