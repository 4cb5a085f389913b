use aws_config::BehaviorVersion;

/// The shared SDK configuration from the standard chain. The Node services' key names
/// (`AWS_ACCESS_KEY`, `AWS_SECRET_KEY`) are honoured when the standard ones are unset, so
/// their `.env` files work unchanged.
pub async fn load_sdk_config(env: impl Fn(&str) -> Option<String>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    let standard_keys_set = env("AWS_ACCESS_KEY_ID").is_some();
    if !standard_keys_set
        && let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY"), env("AWS_SECRET_KEY"))
    {
        loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
            key,
            secret,
            env("AWS_SESSION_TOKEN"),
            None,
            "orderflow-node-variables",
        ));
    }
    loader.load().await
}
