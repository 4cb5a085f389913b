use time::OffsetDateTime;

/// The current UTC time at millisecond precision: the precision every store keeps, so a
/// value read back equals the value written.
pub fn now() -> OffsetDateTime {
    truncate_to_millis(OffsetDateTime::now_utc())
}

pub fn truncate_to_millis(at: OffsetDateTime) -> OffsetDateTime {
    let millis = at.millisecond();
    at.replace_millisecond(millis).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_sub_millisecond_digits() {
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(1_234_567_891);
        assert_eq!(truncate_to_millis(at).nanosecond(), 234_000_000);
        assert_eq!(now().nanosecond() % 1_000_000, 0);
    }
}
