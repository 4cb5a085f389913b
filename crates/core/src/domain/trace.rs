use std::cell::RefCell;
use std::fmt::{self, Write as _};

use rand::RngExt as _;
use rand::rngs::SmallRng;

/// A W3C trace context (`traceparent`): which trace a piece of work belongs to. It travels
/// with an order from the HTTP request through the outbox and the queue message to the
/// worker, so one trace shows the whole path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: String,
    parent_id: String,
    flags: u8,
}

impl TraceParent {
    /// The name it travels under: the HTTP header, and the queue message attribute.
    pub const NAME: &'static str = "traceparent";

    /// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; all-zero ids are invalid.
    /// Later versions may append fields, which are ignored, as the specification asks.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let invalid = || format!("{raw:?} is not a W3C traceparent");
        let mut parts = raw.trim().split('-');
        let (Some(version), Some(trace_id), Some(parent_id), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let hex = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        let valid = hex(version, 2)
            && version != "ff"
            && (version != "00" || parts.next().is_none())
            && hex(trace_id, 32)
            && !zero(trace_id)
            && hex(parent_id, 16)
            && !zero(parent_id)
            && hex(flags, 2);
        if !valid {
            return Err(invalid());
        }
        Ok(Self {
            trace_id: trace_id.to_owned(),
            parent_id: parent_id.to_owned(),
            flags: u8::from_str_radix(flags, 16).map_err(|_| invalid())?,
        })
    }

    /// A new sampled trace, for work that arrives without one.
    pub fn generate() -> Self {
        Self {
            trace_id: random_hex(32),
            parent_id: random_hex(16),
            flags: 1,
        }
    }

    /// The same trace with a new span of this service as the parent.
    pub fn child(&self) -> Self {
        Self {
            parent_id: random_hex(16),
            ..self.clone()
        }
    }

    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    pub fn parent_id(&self) -> &str {
        &self.parent_id
    }

    pub fn is_sampled(&self) -> bool {
        self.flags & 1 == 1
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written part by part: this runs on every response, and `write!` with a width
        // spec costs more than the rest of the header.
        f.write_str("00-")?;
        f.write_str(&self.trace_id)?;
        f.write_char('-')?;
        f.write_str(&self.parent_id)?;
        f.write_char('-')?;
        f.write_char(char::from(DIGITS[usize::from(self.flags >> 4)]))?;
        f.write_char(char::from(DIGITS[usize::from(self.flags & 0xf)]))
    }
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

thread_local! {
    /// Ids need to be unique and unguessable enough not to collide, not secret: a small
    /// generator per thread, seeded once from the system's, as OpenTelemetry's own id
    /// generator does. The thread's ChaCha generator cost more than the rest of a
    /// traceresponse header.
    static ID_BITS: RefCell<SmallRng> = RefCell::new(rand::make_rng());
}

/// `len` random lowercase hex digits (at most 32, an even number), never all zero.
fn random_hex(len: usize) -> String {
    debug_assert!(
        len <= 32 && len.is_multiple_of(2),
        "a u128 holds 16 bytes of two digits each"
    );
    loop {
        let bits = ID_BITS.with_borrow_mut(|rng| rng.random::<u128>()) >> (128 - 4 * len);
        if bits != 0 {
            // A byte's two digits at a time, into bytes checked once: digit by digit, or
            // `String::push` per digit, was a few % of a cached read's instructions (two
            // ids per request).
            let bytes = bits.to_be_bytes();
            let mut hex = vec![0; len];
            for (digits, &byte) in hex.chunks_exact_mut(2).zip(&bytes[16 - len / 2..]) {
                digits[0] = DIGITS[usize::from(byte >> 4)];
                digits[1] = DIGITS[usize::from(byte & 0xf)];
            }
            return String::from_utf8(hex).expect("hex digits are ASCII");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_w3c_form() {
        let raw = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(raw).unwrap();
        assert_eq!(parsed.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.parent_id(), "00f067aa0ba902b7");
        assert!(parsed.is_sampled());
        assert_eq!(parsed.to_string(), raw);
    }

    #[test]
    fn rejects_what_the_specification_rejects() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(TraceParent::parse(bad).is_err(), "{bad:?}");
        }
        // A later version may carry more fields.
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x").is_ok()
        );
    }

    #[test]
    fn generated_and_child_contexts_are_valid_and_keep_the_trace() {
        let root = TraceParent::generate();
        let child = root.child();
        assert_eq!(TraceParent::parse(&root.to_string()), Ok(root.clone()));
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child.parent_id(), root.parent_id());
    }

    #[test]
    fn flags_print_as_two_hex_digits() {
        let raw = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0a";
        assert_eq!(TraceParent::parse(raw).unwrap().to_string(), raw);
        let raw = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert_eq!(TraceParent::parse(raw).unwrap().to_string(), raw);
    }

    #[test]
    fn generated_ids_use_every_digit_in_every_place() {
        let ids: Vec<String> = (0..2000)
            .map(|_| TraceParent::generate().trace_id().to_owned())
            .collect();
        for place in [0, 31] {
            for digit in DIGITS {
                assert!(
                    ids.iter().any(|id| id.as_bytes()[place] == *digit),
                    "{} never in place {place}",
                    char::from(*digit)
                );
            }
        }
        assert!(ids.iter().all(|id| id.len() == 32));
    }

    #[test]
    fn each_thread_generates_ids_of_its_own() {
        let on_thread = || {
            std::thread::spawn(|| {
                (0..100)
                    .map(|_| TraceParent::generate().trace_id().to_owned())
                    .collect::<Vec<_>>()
            })
        };
        let (first, second) = (on_thread(), on_thread());
        let mut ids = first.join().unwrap();
        ids.extend(second.join().unwrap());
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 200, "no id repeated across or within threads");
    }
}
