//! SQL text that is not valid UTF-8 (binary string literals, or a client character set
//! such as latin1) must reach the backend byte for byte. The parser needs `str`, so each
//! byte that is not part of valid UTF-8 is carried as one private-use character
//! (U+10FF00 + byte) and turned back into that byte when the text is sent. Text that
//! already contains characters of that range is refused, so the mapping is exact.

use std::borrow::Cow;

const BASE: u32 = 0x10_FF00;

/// Why a text cannot be carried exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedCharacters;

/// The text of `bytes` for the parser, exact: invalid bytes become reserved characters.
pub fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, ReservedCharacters> {
    let mut out = String::new();
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                if valid.chars().any(is_reserved) {
                    return Err(ReservedCharacters);
                }
                if out.is_empty() && rest.len() == bytes.len() {
                    return Ok(Cow::Borrowed(valid));
                }
                out.push_str(valid);
                return Ok(Cow::Owned(out));
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                let valid = std::str::from_utf8(valid).map_err(|_| ReservedCharacters)?;
                if valid.chars().any(is_reserved) {
                    return Err(ReservedCharacters);
                }
                out.push_str(valid);
                let bad = e.error_len().unwrap_or(after.len());
                for &b in &after[..bad] {
                    out.push(char::from_u32(BASE + u32::from(b)).ok_or(ReservedCharacters)?);
                }
                rest = &after[bad..];
            }
        }
    }
}

fn is_reserved(c: char) -> bool {
    (BASE..=BASE + 0xFF).contains(&u32::from(c))
}

/// The bytes a decoded text stands for.
pub fn encode(text: &str) -> Cow<'_, [u8]> {
    if !text.chars().any(is_reserved) {
        return Cow::Borrowed(text.as_bytes());
    }
    let mut out = Vec::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if is_reserved(c) {
            out.push((u32::from(c) - BASE) as u8);
        } else {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_text_is_borrowed() {
        assert!(matches!(
            decode("SELECT 'é'".as_bytes()),
            Ok(Cow::Borrowed(_))
        ));
        assert!(matches!(encode("SELECT 'é'"), Cow::Borrowed(_)));
    }

    #[test]
    fn invalid_bytes_round_trip() {
        let raw = b"INSERT INTO t VALUES ('\x00\x01\xff\xfe', '\xe9t\xe9')";
        let text = decode(raw).expect("decode");
        assert!(text.starts_with("INSERT INTO t VALUES ('\0\u{1}"));
        assert_eq!(&*encode(&text), &raw[..]);
    }

    #[test]
    fn reserved_characters_are_refused() {
        assert_eq!(decode("x\u{10FF41}".as_bytes()), Err(ReservedCharacters));
        assert_eq!(decode(b"\xff x\xf4\x8f\xbd\x81"), Err(ReservedCharacters));
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(text) = decode(&raw) {
                prop_assert_eq!(&*encode(&text), &raw[..]);
            }
        }
    }
}
