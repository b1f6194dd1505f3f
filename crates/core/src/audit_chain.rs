//! The audit log's hash chain: each organization's events carry `seq` (1, 2,
//! 3, …), `prev_hash` (the previous event's `hash`, [`GENESIS`] before seq 1)
//! and `hash`, the lowercase hex SHA-256 of the event's JSON without `hash`
//! in RFC 8785 canonical form ([`canonical_json`]). The store links events as
//! it writes them; `keygate audit verify` and anyone holding the API's answers
//! recompute the links with [`event_hash`].

use std::fmt::Write as _;

use serde_json::Value;

use crate::crypto::{hex, sha256};

/// `prev_hash` of an organization's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an event document (the API's event object): SHA-256 of its RFC
/// 8785 form with the `hash` member left out, as lowercase hex.
pub fn event_hash(event: &Value) -> String {
    let canonical = match event {
        Value::Object(map) if map.contains_key("hash") => {
            let mut without = map.clone();
            without.remove("hash");
            canonical_json(&Value::Object(without))
        }
        other => canonical_json(other),
    };
    hex(&sha256(canonical.as_bytes()).0)
}

/// Where a chain stops verifying: the first seq that does not, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub seq: i64,
    pub reason: &'static str,
}

/// Walks one organization's events in seq order and finds the first that
/// does not verify: a seq out of turn (an event deleted, or one added), a
/// `prev_hash` that is not the previous event's hash, or a hash that is not
/// that of the event's contents.
#[derive(Debug, Clone)]
pub struct Verifier {
    count: i64,
    prev: String,
}

impl Default for Verifier {
    fn default() -> Verifier {
        Verifier {
            count: 0,
            prev: GENESIS.to_owned(),
        }
    }
}

impl Verifier {
    /// Events verified so far.
    pub fn count(&self) -> i64 {
        self.count
    }

    /// The seq the next event must have.
    pub fn next_seq(&self) -> i64 {
        self.count + 1
    }

    /// Checks the next event (the API's event object, `hash` included).
    pub fn push(&mut self, event: &Value) -> Result<(), Break> {
        let want = self.next_seq();
        let seq = event.get("seq").and_then(Value::as_i64);
        match seq {
            Some(s) if s == want => {}
            Some(s) if s > want => {
                return Err(Break {
                    seq: want,
                    reason: "it is missing",
                });
            }
            _ => {
                return Err(Break {
                    seq: want,
                    reason: "its seq is out of turn",
                });
            }
        }
        if event.get("prev_hash").and_then(Value::as_str) != Some(self.prev.as_str()) {
            return Err(Break {
                seq: want,
                reason: "its prev_hash is not the previous event's hash",
            });
        }
        let hash = event_hash(event);
        if event.get("hash").and_then(Value::as_str) != Some(hash.as_str()) {
            return Err(Break {
                seq: want,
                reason: "its hash does not match its contents",
            });
        }
        self.prev = hash;
        self.count = want;
        Ok(())
    }

    /// After the last event: the organization's head (its newest seq and
    /// hash, as the store keeps them) must be the last event verified, else
    /// the newest events were deleted or the last one changed.
    pub fn finish(&self, head: Option<(i64, &str)>) -> Result<(), Break> {
        match head {
            None if self.count == 0 => Ok(()),
            Some((seq, hash)) if seq == self.count && hash == self.prev => Ok(()),
            Some((seq, _)) if seq > self.count => Err(Break {
                seq: self.next_seq(),
                reason: "it is missing",
            }),
            _ => Err(Break {
                seq: self.count.max(1),
                reason: "the chain's head does not end at it",
            }),
        }
    }
}

/// `value` serialized per RFC 8785 (JSON Canonicalization Scheme): members
/// sorted by their names' UTF-16 code units, no whitespace, strings escaped
/// as ECMAScript's `JSON.stringify` does, numbers as ECMAScript writes a
/// double (integers up to 2^53 exactly as they are).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (name, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(name, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

/// 2^53: integers up to this size are exact doubles, written digit for digit.
const EXACT: u64 = 1 << 53;

fn write_number(n: &serde_json::Number, out: &mut String) {
    if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= EXACT
    {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64()
        && u <= EXACT
    {
        let _ = write!(out, "{u}");
    } else {
        // Beyond 2^53 (or not an integer): the double ECMAScript would read.
        write_double(n.as_f64().unwrap_or(0.0), out);
    }
}

/// ECMAScript's Number::toString of a finite double (RFC 8785 3.2.2.3).
/// Rust's `{:e}` gives the shortest digits that read back as the same double,
/// which is what ECMAScript picks too; only the layout differs.
fn write_double(x: f64, out: &mut String) {
    if x == 0.0 || !x.is_finite() {
        // -0 is written as 0; JSON holds no NaN or infinity.
        out.push('0');
        return;
    }
    if x < 0.0 {
        out.push('-');
    }
    // The fewest digits that read back as `x`; of the numbers with that many
    // digits, ECMAScript takes the one closest to `x` (Rust may pick another
    // that also reads back): `{:.*e}` rounds the exact value.
    let shortest = format!("{:e}", x.abs());
    let k = shortest
        .split('e')
        .next()
        .map_or(1, |m| m.chars().filter(char::is_ascii_digit).count());
    let closest = format!("{:.*e}", k.saturating_sub(1), x.abs());
    let sci = if closest.parse::<f64>() == Ok(x.abs()) {
        closest
    } else {
        shortest
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let n = exp + 1;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e >= 0 { '+' } else { '-' }, e.abs());
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn double(x: f64) -> String {
        let mut s = String::new();
        write_double(x, &mut s);
        s
    }

    /// RFC 8785 appendix B: the bits of a double and how it is written.
    #[test]
    fn numbers_are_written_as_ecmascript_writes_them() {
        let cases = [
            (0x0000000000000000_u64, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, want) in cases {
            assert_eq!(double(f64::from_bits(bits)), want, "{bits:016x}");
        }
    }

    /// RFC 8785 3.2.2 and its UTF-8 bytes in 3.2.4.
    #[test]
    fn the_rfc_example_is_canonicalized() {
        let input = json!({
            "numbers": [333333333.333_333_3_f64, 1e30, 4.5, 0.002, 1e-27],
            "string": "\u{20ac}$\u{f}\nA'B\"\\\\\"/",
            "literals": [null, true, false]
        });
        let want = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\
                    \"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
        assert_eq!(canonical_json(&input), want);
        let hex_want = "7b226c69746572616c73223a5b6e756c6c2c747275652c66616c73655d2c226e756d62657273223a5b\
                        3333333333333333332e333333333333332c31652b33302c342e352c302e3030322c31652d32375d2c22\
                        737472696e67223a22e282ac245c75303030665c6e4127425c225c5c5c5c5c222f227d";
        assert_eq!(hex(canonical_json(&input).as_bytes()), hex_want);
    }

    /// RFC 8785 3.2.3: members sorted by UTF-16 code units.
    #[test]
    fn members_are_sorted_by_utf16_code_units() {
        let input: Value = serde_json::from_str(
            r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
                "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",
                "\u00f6": "Latin Small Letter O With Diaeresis"}"#,
        )
        .unwrap();
        let want = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                    \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                    \"\u{1F600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canonical_json(&input), want);
    }

    #[test]
    fn integers_and_control_characters() {
        let big: Value = serde_json::from_str(
            "[0, -1, 9007199254740992, 9007199254740994, 1000000000000000000000, 1776000000000]",
        )
        .unwrap();
        assert_eq!(
            canonical_json(&big),
            "[0,-1,9007199254740992,9007199254740994,1e+21,1776000000000]"
        );
        assert_eq!(
            canonical_json(&json!("\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f}\u{2028}")),
            "\"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\u{7f}\u{2028}\""
        );
    }

    fn chain(n: i64) -> Vec<Value> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e =
                    json!({"seq": seq, "prev_hash": prev, "action": "x", "details": {"n": seq}});
                let hash = event_hash(&e);
                e["hash"] = hash.clone().into();
                prev = hash;
                e
            })
            .collect()
    }

    fn verify(events: &[Value], head: Option<(i64, &str)>) -> Result<i64, Break> {
        let mut v = Verifier::default();
        for e in events {
            v.push(e)?;
        }
        v.finish(head)?;
        Ok(v.count())
    }

    #[test]
    fn a_chain_verifies_and_each_tampering_is_found_at_its_seq() {
        let events = chain(5);
        let last = events[4]["hash"].as_str().unwrap().to_owned();
        assert_eq!(verify(&events, Some((5, &last))), Ok(5));
        assert_eq!(verify(&[], None), Ok(0));

        let mut edited = events.clone();
        edited[2]["details"]["n"] = json!(99);
        assert_eq!(verify(&edited, Some((5, &last))).unwrap_err().seq, 3);

        let mut deleted = events.clone();
        deleted.remove(1);
        let b = verify(&deleted, Some((5, &last))).unwrap_err();
        assert_eq!((b.seq, b.reason), (2, "it is missing"));

        // The newest event deleted: only the head tells.
        let b = verify(&events[..4], Some((5, &last))).unwrap_err();
        assert_eq!((b.seq, b.reason), (5, "it is missing"));

        // An event rewritten with a fresh hash: the next link breaks.
        let mut rehashed = events.clone();
        rehashed[2]["details"]["n"] = json!(99);
        rehashed[2]["hash"] = event_hash(&rehashed[2]).into();
        assert_eq!(verify(&rehashed, Some((5, &last))).unwrap_err().seq, 4);
    }

    /// An event written out by hand, its hash computed with coreutils' sha256sum.
    #[test]
    fn an_event_hash_leaves_out_the_hash_member() {
        let e = json!({
            "seq": 1, "prev_hash": GENESIS, "action": "scoped_key.created",
            "occurred_at": "2026-01-02T03:04:05.678Z", "client_id": null,
            "details": {"name": "Grüße \"q\" \\ / € 😀\u{2028}", "\u{e9}": 1, "z": -7,
                        "rate_limit": {"requests": 100, "per_seconds": 60},
                        "tags": [true, false, null]},
            "hash": "anything"
        });
        let want = "c751e31c181af4c6f78286674fe4983307220c3ec8734c727bb356add5e57d8a";
        assert_eq!(event_hash(&e), want);
    }
}
