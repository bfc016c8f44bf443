//! The one reversible encoding of names into NATS subject tokens and KV key tokens.
//!
//! Nacos dataIds contain '.', and names may hold anything the protocols allow (spaces, '*', '>',
//! '/', unicode). Subject tokens may not contain '.', '*', '>' or whitespace, and KV keys only allow
//! `[-/_=.A-Za-z0-9]`. So one token encoding serves both:
//!
//! * `A-Z a-z 0-9 _ -` stand for themselves;
//! * every other byte of the UTF-8 form becomes `=XX` (two upper-case hex digits);
//! * the empty name is the token `=` alone.
//!
//! Example: `app.yaml` → `app=2Eyaml`. The result never contains '.', so tokens joined by '.' form a
//! subject or a KV key that splits back unambiguously. Outside subscribers decode with the same rule.

use std::fmt::Write;

/// Encodes a name as one subject/KV token.
pub fn encode(name: &str) -> String {
    if name.is_empty() {
        return "=".to_owned();
    }
    let mut out = String::with_capacity(name.len() + 8);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            out.push(byte as char);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "={byte:02X}");
        }
    }
    out
}

/// The length of `encode(name)`, without building it.
pub fn encoded_len(name: &str) -> usize {
    if name.is_empty() {
        return 1;
    }
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                1
            } else {
                3
            }
        })
        .sum()
}

/// Decodes a token made by [`encode`]. Rejects anything `encode` cannot produce.
pub fn decode(token: &str) -> Result<String, InvalidToken> {
    if token == "=" {
        return Ok(String::new());
    }
    if token.is_empty() {
        return Err(InvalidToken(token.to_owned()));
    }
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'=' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or_else(|| InvalidToken(token.to_owned()))?;
            let value = std::str::from_utf8(hex)
                .ok()
                .filter(|h| {
                    h.bytes()
                        .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
                })
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| InvalidToken(token.to_owned()))?;
            if value.is_ascii_alphanumeric() || value == b'_' || value == b'-' {
                // encode() never escapes these: a second spelling would break reversibility.
                return Err(InvalidToken(token.to_owned()));
            }
            out.push(value);
            i += 3;
        } else if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            out.push(byte);
            i += 1;
        } else {
            return Err(InvalidToken(token.to_owned()));
        }
    }
    String::from_utf8(out).map_err(|_| InvalidToken(token.to_owned()))
}

/// Joins already-encoded tokens into a dotted subject suffix or KV key.
pub fn join(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| encode(n))
        .collect::<Vec<_>>()
        .join(".")
}

/// Splits a dotted suffix made by [`join`] back into names.
pub fn split(joined: &str) -> Result<Vec<String>, InvalidToken> {
    joined.split('.').map(decode).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid Nacre name token: {0:?}")]
pub struct InvalidToken(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_stay_readable() {
        assert_eq!(encode("DEFAULT_GROUP"), "DEFAULT_GROUP");
        assert_eq!(encode("order-service"), "order-service");
    }

    #[test]
    fn subject_and_key_metacharacters_are_escaped() {
        assert_eq!(encode("app.yaml"), "app=2Eyaml");
        assert_eq!(encode("a b*c>d/e=f"), "a=20b=2Ac=3Ed=2Fe=3Df");
        assert_eq!(encode(""), "=");
    }

    #[test]
    fn round_trips_anything() {
        for name in [
            "",
            "=",
            "==",
            "app.yaml",
            "com.x:y@z",
            "中文.配置",
            "tab\there",
            "..",
            "=2E",
            "a\u{0}b",
        ] {
            let token = encode(name);
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-=".contains(&b)),
                "{token}"
            );
            assert_eq!(decode(&token).as_deref(), Ok(name));
        }
    }

    #[test]
    fn joined_names_split_back() {
        let joined = join(&["public", "DEFAULT_GROUP", "db.url"]);
        assert_eq!(joined, "public.DEFAULT_GROUP.db=2Eurl");
        assert_eq!(
            split(&joined).unwrap(),
            vec!["public", "DEFAULT_GROUP", "db.url"]
        );
    }

    #[test]
    fn rejects_tokens_encode_cannot_produce() {
        for bad in ["", "a.b", "a=2", "a=2e", "a=ZZ", "a=41", "a b", "=C3"] {
            assert!(decode(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
