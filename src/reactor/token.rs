//! mio tokens that say what they point at and which incarnation of a slab slot, so an event for
//! a slot that was freed and reused is recognised as stale and dropped.

/// What a token points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A listening socket: `idx` indexes the reactor's listeners.
    Listener,
    /// A client connection: `idx` indexes the connection slab.
    Client,
    /// A backend connection: `idx` indexes the backend pool's slab.
    Backend,
    /// The reactor's waker (control messages).
    Waker,
}

/// Layout: bits 0-1 kind, bits 2-33 slab index, bits 34-63 generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token(pub usize);

impl Token {
    /// Generations wrap within 30 bits.
    pub const GEN_MASK: u32 = (1 << 30) - 1;
    const IDX_BITS: u32 = 32;

    pub fn new(kind: Kind, idx: usize, gen: u32) -> Token {
        debug_assert!(idx < (1 << Self::IDX_BITS) && gen <= Self::GEN_MASK);
        let k = match kind {
            Kind::Listener => 0,
            Kind::Client => 1,
            Kind::Backend => 2,
            Kind::Waker => 3,
        };
        Token(k | (idx << 2) | ((gen as usize) << (2 + Self::IDX_BITS)))
    }

    pub fn kind(self) -> Kind {
        match self.0 & 3 {
            0 => Kind::Listener,
            1 => Kind::Client,
            2 => Kind::Backend,
            _ => Kind::Waker,
        }
    }

    pub fn idx(self) -> usize {
        (self.0 >> 2) & ((1 << Self::IDX_BITS) - 1)
    }

    pub fn gen(self) -> u32 {
        (self.0 >> (2 + Self::IDX_BITS)) as u32
    }
}

impl From<Token> for mio::Token {
    fn from(t: Token) -> mio::Token {
        mio::Token(t.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_kind_index_and_generation() {
        for kind in [Kind::Listener, Kind::Client, Kind::Backend, Kind::Waker] {
            let t = Token::new(kind, 123_456, Token::GEN_MASK);
            assert_eq!(
                (t.kind(), t.idx(), t.gen()),
                (kind, 123_456, Token::GEN_MASK)
            );
        }
    }

    #[test]
    fn tokens_of_one_slot_differ_by_generation() {
        assert_ne!(
            Token::new(Kind::Client, 5, 1),
            Token::new(Kind::Client, 5, 2)
        );
    }
}
