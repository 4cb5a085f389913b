use std::cell::RefCell;
use std::fmt;

use rand::RngExt as _;
use rand::rngs::SmallRng;

/// A W3C trace context (`traceparent`): which trace a piece of work belongs to. It travels
/// with an order from the HTTP request through the outbox and the queue message to the
/// worker, so one trace shows the whole path.
///
/// Kept as its version-00 text, `00-<trace id>-<parent id>-<flags>`: it is written on every
/// response and log line, and copied with the request, as it is, with no allocation. (Two
/// `String` ids cost a cached order read six allocations and a formatting pass.)
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    text: [u8; TEXT_LEN],
}

/// `00-` + 32 digits + `-` + 16 digits + `-` + 2 digits.
const TEXT_LEN: usize = 55;
const TRACE_ID: std::ops::Range<usize> = 3..35;
const PARENT_ID: std::ops::Range<usize> = 36..52;
const FLAGS: std::ops::Range<usize> = 53..55;

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
        let mut parsed = Self::blank();
        parsed.text[TRACE_ID].copy_from_slice(trace_id.as_bytes());
        parsed.text[PARENT_ID].copy_from_slice(parent_id.as_bytes());
        parsed.text[FLAGS].copy_from_slice(flags.as_bytes());
        Ok(parsed)
    }

    /// A new sampled trace, for work that arrives without one.
    pub fn generate() -> Self {
        let mut generated = Self::blank();
        random_hex(&mut generated.text[TRACE_ID]);
        random_hex(&mut generated.text[PARENT_ID]);
        generated.text[FLAGS].copy_from_slice(b"01");
        generated
    }

    /// The same trace with a new span of this service as the parent.
    pub fn child(&self) -> Self {
        let mut child = *self;
        random_hex(&mut child.text[PARENT_ID]);
        child
    }

    /// The `traceparent` text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text).expect("made of hex digits and dashes alone")
    }

    /// The `traceparent` text as bytes, as a header value takes it (no UTF-8 check).
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }

    pub fn trace_id(&self) -> &str {
        self.part(TRACE_ID)
    }

    pub fn parent_id(&self) -> &str {
        self.part(PARENT_ID)
    }

    pub fn is_sampled(&self) -> bool {
        // The flags' last digit holds the sampled bit (the lowest).
        char::from(self.text[FLAGS.end - 1])
            .to_digit(16)
            .is_some_and(|digit| digit & 1 == 1)
    }

    /// One field's text, checked alone: the trace id is recorded on every request's span.
    fn part(&self, field: std::ops::Range<usize>) -> &str {
        std::str::from_utf8(&self.text[field]).expect("made of hex digits alone")
    }

    /// Version 00 with the dashes in place and the rest to be filled in.
    fn blank() -> Self {
        let mut text = [b'0'; TEXT_LEN];
        for dash in [2, TRACE_ID.end, PARENT_ID.end] {
            text[dash] = b'-';
        }
        Self { text }
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TraceParent").field(&self.as_str()).finish()
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

/// Fills `digits` (at most 32, an even number) with random lowercase hex digits, never all
/// zero.
fn random_hex(digits: &mut [u8]) {
    let len = digits.len();
    debug_assert!(
        len <= 32 && len.is_multiple_of(2),
        "a u128 holds 16 bytes of two digits each"
    );
    loop {
        let bits = ID_BITS.with_borrow_mut(|rng| rng.random::<u128>()) >> (128 - 4 * len);
        if bits != 0 {
            // A byte's two digits at a time: two ids are made per request.
            let bytes = bits.to_be_bytes();
            for (pair, &byte) in digits.chunks_exact_mut(2).zip(&bytes[16 - len / 2..]) {
                pair[0] = DIGITS[usize::from(byte >> 4)];
                pair[1] = DIGITS[usize::from(byte & 0xf)];
            }
            return;
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
        assert_eq!(TraceParent::parse(&root.to_string()), Ok(root));
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
