//! Eight bytes at a time in a plain `u64` (SWAR): the byte tests the record splitter, the
//! property index and the JSON writer share. Portable and without `unsafe`.

/// `0x01` in every byte.
pub const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte.
pub const HIGHS: u64 = 0x8080_8080_8080_8080;

/// `byte` in every byte of a word.
#[inline(always)]
pub const fn splat(byte: u8) -> u64 {
    ONES * byte as u64
}

/// The eight bytes of `bytes` from `at` as a word (the first byte lowest); `at + 8` must not pass
/// the end.
#[inline(always)]
pub fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The high bit of every byte of `word` below `limit` (at most 128). A byte above a true hit may
/// be marked too (the borrow of the subtraction), so only the lowest mark, or whether there is
/// one, is exact.
#[inline(always)]
pub fn bytes_below(word: u64, limit: u8) -> u64 {
    word.wrapping_sub(splat(limit)) & !word & HIGHS
}

/// The high bit of every zero byte of `word`, as `bytes_below(word, 1)`.
#[inline(always)]
pub fn zero_bytes(word: u64) -> u64 {
    bytes_below(word, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lowest mark is exact for every byte value at every place.
    #[test]
    fn the_lowest_mark_is_the_first_matching_byte() {
        for place in 0..8 {
            for byte in 0u8..=255 {
                let mut bytes = [0x7fu8; 8];
                bytes[place] = byte;
                let word = word_at(&bytes, 0);
                let first_zero = bytes.iter().position(|b| *b == 0);
                let marked = zero_bytes(word);
                assert_eq!(
                    (marked != 0).then(|| (marked.trailing_zeros() / 8) as usize),
                    first_zero
                );
                let first_below = bytes.iter().position(|b| *b < 0x20);
                let marked = bytes_below(word, 0x20);
                assert_eq!(
                    (marked != 0).then(|| (marked.trailing_zeros() / 8) as usize),
                    first_below
                );
            }
        }
    }
}
