use aws_config::{BehaviorVersion, Region};

/// The variables [`load_sdk_config`] reads from the environment it is given; the rest of the
/// standard chain (profiles, web identity / IRSA, pod identity, instance metadata) is read
/// by the SDK itself.
pub const AWS_VARIABLES: &[&str] = &[
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
];

/// The shared SDK configuration: the standard chain, with what `env` gives taking its place
/// (so a configuration captured once, or given by a test, is the one used). The Node
/// services' key names (`AWS_ACCESS_KEY`, `AWS_SECRET_KEY`) are honoured when the standard
/// ones are unset, so their `.env` files work unchanged.
pub async fn load_sdk_config(env: impl Fn(&str) -> Option<String>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        loader = loader.region(Region::new(region));
    }
    if let Some(endpoint) = env("AWS_ENDPOINT_URL") {
        loader = loader.endpoint_url(endpoint);
    }
    let keys = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => Some((key, secret)),
        _ => env("AWS_ACCESS_KEY").zip(env("AWS_SECRET_KEY")),
    };
    if let Some((key, secret)) = keys {
        loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
            key,
            secret,
            env("AWS_SESSION_TOKEN"),
            None,
            "environment",
        ));
    }
    loader.load().await
}
