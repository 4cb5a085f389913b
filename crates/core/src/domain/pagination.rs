use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How many items a page holds: 1 to 100, 20 when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    pub const MAX: u32 = 100;
    pub const DEFAULT: PageLimit = PageLimit(20);

    pub fn parse(raw: Option<i64>) -> Result<Self, String> {
        match raw {
            None => Ok(Self::DEFAULT),
            Some(n) => match u32::try_from(n) {
                Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
                _ => Err(format!("must be between 1 and {}", Self::MAX)),
            },
        }
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}

/// An opaque page cursor: the sort key of the last item of the previous page, encoded so
/// clients do not build their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    pub fn after(key: &str) -> Self {
        Self(key.to_owned())
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|key| !key.is_empty() && key.len() <= 256)
            .map(Self)
            .ok_or_else(|| "is not a cursor this API returned".to_owned())
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }

    pub fn key(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(PageLimit::parse(None), Ok(PageLimit::DEFAULT));
        assert!(PageLimit::parse(Some(0)).is_err());
        assert!(PageLimit::parse(Some(101)).is_err());
        assert_eq!(PageLimit::parse(Some(100)).map(|l| l.get()), Ok(100));
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor::after("sku-9");
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        assert!(Cursor::decode("!!!").is_err());
        assert!(Cursor::decode("").is_err());
    }
}
