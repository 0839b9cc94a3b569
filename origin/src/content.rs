//! Deterministic body content and the checksum that verifies it.
//!
//! Owns the byte generator behind `/bytes/N` and the FNV-1a 64 checksum sent in `X-Checksum` and
//! returned by `/sink`. Both are pure functions of their inputs, so a client can regenerate or
//! verify any byte range of any body without the server and without holding the whole body.
//! Must not allocate in proportion to a body's length.

/// Bytes generated per step by [`body_checksum`]; bounds its scratch buffer.
const SCRATCH_BYTES: usize = 64 * 1024;

/// The splitmix64 increment (2^64 / golden ratio).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// FNV-1a 64 offset basis: the checksum of no bytes.
const FNV_OFFSET_BASIS: u64 = 0xCBF2_9CE4_8422_2325;

/// FNV-1a 64 prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

/// The splitmix64 finaliser: a cheap bijection whose outputs look independent.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Per-seed key, so that streams for neighbouring seeds are unrelated rather than shifted copies.
fn stream_key(seed: u64) -> u64 {
    mix(seed)
}

/// The 8-byte word holding body bytes `8 * index .. 8 * index + 8`, little-endian.
fn word(key: u64, index: u64) -> u64 {
    mix(key.wrapping_add(index.wrapping_mul(GOLDEN_GAMMA)))
}

/// The byte at `offset` of the body generated for `seed`.
///
/// Every body `/bytes/N?seed=S` is the first N bytes of one infinite stream per seed, so
/// `body_byte(S, i)` is byte `i` of any such body whose length exceeds `i`.
pub fn body_byte(seed: u64, offset: u64) -> u8 {
    word(stream_key(seed), offset / 8).to_le_bytes()[(offset % 8) as usize]
}

/// Fills `out` with the body bytes for `seed` starting at `offset`; equal to calling
/// [`body_byte`] for each position, about eight times cheaper per byte.
pub fn fill_body(seed: u64, offset: u64, out: &mut [u8]) {
    let key = stream_key(seed);
    let mut index = offset / 8;
    let skip = (offset % 8) as usize;
    let mut aligned = out;
    if skip != 0 {
        let take = (8 - skip).min(aligned.len());
        let (head, tail) = aligned.split_at_mut(take);
        head.copy_from_slice(&word(key, index).to_le_bytes()[skip..skip + take]);
        aligned = tail;
        index = index.wrapping_add(1);
    }
    for bytes in aligned.chunks_mut(8) {
        bytes.copy_from_slice(&word(key, index).to_le_bytes()[..bytes.len()]);
        index = index.wrapping_add(1);
    }
}

/// The checksum of the first `len` body bytes for `seed`, as sent in `X-Checksum` by
/// `/bytes/<len>?seed=<seed>`. Costs one pass over the content, in bounded memory.
pub fn body_checksum(seed: u64, len: u64) -> u64 {
    let mut scratch = vec![0; SCRATCH_BYTES.min(usize::try_from(len).unwrap_or(usize::MAX))];
    let mut sum = Checksum::new();
    let mut offset = 0;
    while offset < len {
        let step = scratch
            .len()
            .min(usize::try_from(len - offset).unwrap_or(usize::MAX));
        fill_body(seed, offset, &mut scratch[..step]);
        sum.update(&scratch[..step]);
        offset += step as u64;
    }
    sum.finish()
}

/// Incremental FNV-1a 64 over a byte stream; feeding the stream in any split gives the same result.
///
/// Not a cryptographic hash: it detects corruption, reordering, truncation and extension, which is
/// all a test of a proxy needs. Headers carry it as [`to_hex`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum {
    state: u64,
}

impl Checksum {
    /// The checksum of no bytes.
    pub const fn new() -> Checksum {
        Checksum {
            state: FNV_OFFSET_BASIS,
        }
    }

    /// Continues the checksum over `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut state = self.state;
        for &byte in bytes {
            state = (state ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
        }
        self.state = state;
    }

    /// The checksum of every byte given so far; more may still be given.
    pub fn finish(&self) -> u64 {
        self.state
    }
}

impl Default for Checksum {
    fn default() -> Checksum {
        Checksum::new()
    }
}

/// The FNV-1a 64 checksum of `bytes` in one call.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut sum = Checksum::new();
    sum.update(bytes);
    sum.finish()
}

/// The form a checksum takes in `X-Checksum` and in `/sink` answers: 16 lowercase hex digits.
pub fn to_hex(sum: u64) -> String {
    format!("{sum:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_body_equals_body_byte_at_every_alignment() {
        for seed in [0, 1, u64::MAX] {
            for start in 0..24 {
                let mut out = [0; 37];
                fill_body(seed, start, &mut out);
                for (i, &byte) in out.iter().enumerate() {
                    assert_eq!(
                        byte,
                        body_byte(seed, start + i as u64),
                        "seed {seed} offset {}",
                        start + i as u64
                    );
                }
            }
        }
    }

    #[test]
    fn fill_body_handles_offsets_near_the_end_of_the_stream() {
        let start = u64::MAX - 3;
        let mut out = [0; 4];
        fill_body(7, start, &mut out);
        for (i, &byte) in out.iter().enumerate() {
            assert_eq!(byte, body_byte(7, start + i as u64));
        }
    }

    #[test]
    fn neighbouring_seeds_give_unrelated_bodies() {
        let mut a = [0; 64];
        let mut b = [0; 64];
        fill_body(0, 0, &mut a);
        fill_body(1, 0, &mut b);
        let equal = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(equal < 8, "{equal} of 64 bytes equal");
        fill_body(1, 8, &mut b);
        assert_ne!(a, b, "seed 1 must not be seed 0 shifted by a word");
    }

    #[test]
    fn checksum_matches_published_fnv1a_64_vectors() {
        assert_eq!(checksum(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(checksum(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(checksum(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn checksum_is_the_same_for_any_split_of_the_input() {
        let mut body = [0; 300];
        fill_body(3, 0, &mut body);
        let whole = checksum(&body);
        for split in 0..=body.len() {
            let mut sum = Checksum::default();
            sum.update(&body[..split]);
            sum.update(&body[split..]);
            assert_eq!(sum.finish(), whole, "split at {split}");
        }
    }

    #[test]
    fn body_checksum_equals_checksum_of_generated_bytes() {
        for len in [
            0,
            1,
            7,
            8,
            9,
            SCRATCH_BYTES as u64 - 1,
            SCRATCH_BYTES as u64 * 2 + 5,
        ] {
            let mut body = vec![0; len as usize];
            fill_body(11, 0, &mut body);
            assert_eq!(body_checksum(11, len), checksum(&body), "len {len}");
        }
    }

    #[test]
    fn hex_form_is_sixteen_lowercase_digits() {
        assert_eq!(to_hex(0xAB), "00000000000000ab");
        assert_eq!(to_hex(checksum(b"")), "cbf29ce484222325");
    }
}
