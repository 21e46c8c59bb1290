//! Primitive MySQL wire encodings: length-encoded integers and strings, fixed-width
//! little-endian integers, NUL-terminated strings.
//!
//! Layouts: <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_dt_integers.html>
//! and `page_protocol_basic_dt_strings.html`. Readers never panic on short input; they
//! return `None` instead so the caller can answer with a protocol error.

/// Appends a length-encoded integer.
pub fn put_lenenc_int(out: &mut Vec<u8>, v: u64) {
    if v < 251 {
        out.push(v as u8);
    } else if v < 1 << 16 {
        out.push(0xFC);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v < 1 << 24 {
        out.push(0xFD);
        out.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
    } else {
        out.push(0xFE);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_str(out: &mut Vec<u8>, s: &[u8]) {
    put_lenenc_int(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// A cursor over a received payload.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Everything not read yet, consuming it.
    pub fn rest(&mut self) -> &'a [u8] {
        let r = &self.buf[self.pos..];
        self.pos = self.buf.len();
        r
    }

    /// Next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let r = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(r)
    }

    /// The next byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    /// Little-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    /// Little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Length-encoded integer. `0xFB` (NULL) is not an integer and yields `None`.
    pub fn lenenc_int(&mut self) -> Option<u64> {
        match self.u8()? {
            v @ 0..=0xFA => Some(u64::from(v)),
            0xFC => self.u16().map(u64::from),
            0xFD => self
                .bytes(3)
                .map(|b| u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16),
            0xFE => self.bytes(8).map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                u64::from_le_bytes(a)
            }),
            _ => None,
        }
    }

    /// Length-encoded string.
    pub fn lenenc_str(&mut self) -> Option<&'a [u8]> {
        let n = self.lenenc_int()?;
        self.bytes(usize::try_from(n).ok()?)
    }

    /// NUL-terminated string (the NUL is consumed, not returned).
    pub fn nul_str(&mut self) -> Option<&'a [u8]> {
        let rest = &self.buf[self.pos..];
        let end = rest.iter().position(|&b| b == 0)?;
        self.pos += end + 1;
        Some(&rest[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lenenc_golden_bytes() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (250, &[0xFA]),
            (251, &[0xFC, 0xFB, 0x00]),
            (65535, &[0xFC, 0xFF, 0xFF]),
            (65536, &[0xFD, 0x00, 0x00, 0x01]),
            (16_777_216, &[0xFE, 0, 0, 0, 1, 0, 0, 0, 0]),
        ];
        for (v, bytes) in cases {
            let mut out = Vec::new();
            put_lenenc_int(&mut out, *v);
            assert_eq!(&out, bytes, "encoding {v}");
            assert_eq!(Reader::new(bytes).lenenc_int(), Some(*v));
        }
    }

    #[test]
    fn short_input_is_none_not_panic() {
        assert_eq!(Reader::new(&[0xFC, 0x01]).lenenc_int(), None);
        assert_eq!(Reader::new(&[0xFB]).lenenc_int(), None);
        assert_eq!(Reader::new(&[0x05, b'a']).lenenc_str(), None);
        assert_eq!(Reader::new(b"abc").nul_str(), None);
    }

    proptest! {
        #[test]
        fn lenenc_round_trip(v in any::<u64>(), s in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            put_lenenc_int(&mut out, v);
            put_lenenc_str(&mut out, &s);
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.lenenc_int(), Some(v));
            prop_assert_eq!(r.lenenc_str(), Some(&s[..]));
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn reader_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&buf);
            let _ = r.lenenc_str();
            let _ = r.nul_str();
            let _ = r.lenenc_int();
            let _ = r.u32();
        }
    }
}
