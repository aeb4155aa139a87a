//! The property names a mapper reads, as a table built at compile time: one pass over a
//! record's properties finds where each of them is (`Record::keyed`), instead of a search of
//! the record's index for every read. A sign-in mapping reads some sixty properties, and each
//! search cost as much as finding all of them in one pass costs per property.

use std::borrow::Cow;

use crate::graph::record::{Record, key_hash, raw_str, same_key};

/// Slots of a table: at most half of them used, so that a name not in the table (a property
/// the mapper does not read) ends its search at the first or second slot.
const SLOTS: usize = 256;

/// Up to 127 names, each found by its hash in an open-addressing table of `SLOTS` slots.
pub struct KeyTable<const N: usize> {
    names: [&'static str; N],
    /// slot → 1 + the name's index; 0 for an empty slot
    slots: [u8; SLOTS],
}

impl<const N: usize> KeyTable<N> {
    /// The table of `names`; fails to compile (a panic in a constant) with a repeated name or
    /// more than 127 names.
    pub const fn new(names: [&'static str; N]) -> KeyTable<N> {
        assert!(N < SLOTS / 2, "a key table holds at most 127 names");
        let mut slots = [0u8; SLOTS];
        let mut index = 0;
        while index < N {
            let mut earlier = 0;
            while earlier < index {
                assert!(
                    !const_equal(names[earlier], names[index]),
                    "a name is twice in a key table"
                );
                earlier += 1;
            }
            let mut slot = first_slot(const_key_hash(names[index].as_bytes()));
            while slots[slot] != 0 {
                slot = (slot + 1) % SLOTS;
            }
            slots[slot] = index as u8 + 1;
            index += 1;
        }
        KeyTable { names, slots }
    }

    /// The index of `name`, for a mapper's reads; fails to compile when `name` is not in the
    /// table (used in `const` blocks).
    pub const fn index(&self, name: &str) -> usize {
        let mut index = 0;
        while index < N {
            if const_equal(self.names[index], name) {
                return index;
            }
            index += 1;
        }
        panic!("the name is not in the key table")
    }

    #[cfg(test)]
    pub fn names(&self) -> &[&'static str; N] {
        &self.names
    }

    /// The index of `name` in the table.
    #[inline]
    pub fn find(&self, name: &str) -> Option<usize> {
        self.find_hashed(name, key_hash(name.as_bytes()))
    }

    /// `find`, given the name's `key_hash`.
    #[inline]
    pub fn find_hashed(&self, name: &str, hash: u64) -> Option<usize> {
        let mut slot = first_slot(hash);
        loop {
            let index = usize::from(self.slots[slot]).checked_sub(1)?;
            if same_key(self.names.get(index)?, name) {
                return Some(index);
            }
            slot = (slot + 1) % SLOTS;
        }
    }
}

const fn first_slot(hash: u64) -> usize {
    (hash >> 56) as usize % SLOTS
}

/// `key_hash`, computable in a constant: the table is built at compile time and searched at
/// run time with the faster `key_hash`; a test holds the two equal.
pub(crate) const fn const_key_hash(key: &[u8]) -> u64 {
    let length = key.len();
    let (head, tail) = if length >= 8 {
        (const_word(key, 0, 8), const_word(key, length - 8, 8))
    } else {
        (const_word(key, 0, length), 0)
    };
    (head ^ tail.rotate_left(29) ^ (length as u64).rotate_left(58))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// `count` (at most 8) bytes of `bytes` from `at` as a word, the first byte lowest.
const fn const_word(bytes: &[u8], at: usize, count: usize) -> u64 {
    let mut word = 0u64;
    let mut index = 0;
    while index < count {
        word |= (bytes[at + index] as u64) << (8 * index);
        index += 1;
    }
    word
}

const fn const_equal(left: &str, right: &str) -> bool {
    let (left, right) = (left.as_bytes(), right.as_bytes());
    if left.len() != right.len() {
        return false;
    }
    let mut index = 0;
    while index < left.len() {
        if left[index] != right[index] {
            return false;
        }
        index += 1;
    }
    true
}

/// Where each name of a key table is among a record's properties (the last occurrence of a
/// repeated key, as `Record::get`), found in one pass.
pub struct Keyed<'r, 'a, const N: usize> {
    record: &'r Record<'a>,
    /// 1 + the property's position; 0 when the record does not have it
    at: [u16; N],
}

impl<'r, 'a, const N: usize> Keyed<'r, 'a, N> {
    pub(crate) fn new(record: &'r Record<'a>, table: &KeyTable<N>) -> Keyed<'r, 'a, N> {
        let mut at = [0u16; N];
        // positions fit: a record keeps at most 32,767 properties. Two loops: one loop choosing
        // between a kept and a computed hash for each name cost a sign-in 665 instructions more
        match record.name_hashes() {
            // the names' hashes, computed once when the record's index was built
            Some(hashes) => {
                for (position, (name, hash)) in record.names().zip(hashes).enumerate() {
                    if let Some(index) = table.find_hashed(name, *hash) {
                        at[index] = position as u16 + 1;
                    }
                }
            }
            None => {
                for (position, name) in record.names().enumerate() {
                    if let Some(index) = table.find(name) {
                        at[index] = position as u16 + 1;
                    }
                }
            }
        }
        Keyed { record, at }
    }

    pub fn record(&self) -> &'r Record<'a> {
        self.record
    }

    /// The position among the record's properties of the table's name at `index`.
    #[inline]
    pub fn position(&self, index: usize) -> Option<usize> {
        usize::from(*self.at.get(index)?).checked_sub(1)
    }

    /// The raw value of the table's name at `index`.
    #[inline]
    pub fn get(&self, index: usize) -> Option<&'a str> {
        self.record.value_at(self.position(index)?)
    }

    pub fn text(&self, index: usize) -> Option<Cow<'a, str>> {
        self.get(index).and_then(raw_str)
    }

    /// A string that is present and not blank (Graph sends "" for unknown values).
    pub fn non_empty(&self, index: usize) -> Option<Cow<'a, str>> {
        crate::schema::values::non_empty(self.get(index))
    }

    /// A string for writing as it is (see `values::graph_text`).
    #[inline]
    pub fn graph_text(&self, index: usize) -> Option<crate::schema::values::GraphText<'a>> {
        crate::schema::values::graph_text(self.get(index))
    }

    pub fn integer(&self, index: usize) -> Option<i64> {
        self.get(index).and_then(crate::schema::values::integer)
    }

    /// The raw values of `keys` in the object value at `index`, from the properties the
    /// record's scan kept when it did (see `Fields::pick`).
    pub fn pick<const K: usize>(
        &self,
        index: usize,
        keys: [&str; K],
    ) -> Option<[Option<&'a str>; K]> {
        let position = self.position(index)?;
        let raw = self.record.value_at(position)?;
        crate::schema::values::pick_kept(raw, self.record.nested_at(position), keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: KeyTable<5> = KeyTable::new([
        "id",
        "userId",
        "createdDateTime",
        "authenticationRequirementPolicies",
        "ünïcode",
    ]);

    /// The hash the table is built with equals the one it is searched with, for names of every
    /// length up to 40 and bytes of every value.
    #[test]
    fn the_constant_hash_equals_the_run_time_hash() {
        for length in 0..=40usize {
            for seed in 0..=255u8 {
                let name: Vec<u8> = (0..length)
                    .map(|index| {
                        seed.wrapping_mul(31)
                            .wrapping_add((index as u8).wrapping_mul(7))
                    })
                    .collect();
                assert_eq!(const_key_hash(&name), key_hash(&name), "{name:?}");
            }
        }
    }

    #[test]
    fn names_are_found_and_others_are_not() {
        for (index, name) in TABLE.names().iter().enumerate() {
            assert_eq!(TABLE.find(name), Some(index), "{name}");
            assert_eq!(TABLE.index(name), index);
        }
        for other in [
            "",
            "i",
            "ids",
            "userid",
            "createdDateTime ",
            "unicode",
            "x".repeat(300).as_str(),
        ] {
            assert_eq!(TABLE.find(other), None, "{other}");
        }
    }

    /// The last of a repeated key, decoded keys like the others, absent ones absent; values
    /// read as `Record::get` and `Fields` read them: in a small record (searched directly) and
    /// in a large one (indexed, whose names' hashes the key table's search takes from the index).
    #[test]
    fn a_keyed_record_reads_what_its_index_reads() {
        let padding: String = (0..24)
            .map(|index| format!(r#","p{index}":{index}"#))
            .collect();
        for padding in ["", padding.as_str()] {
            let text = format!(
                r#"{{"id":"first","userId":"u","user\u0049d":"decoded","id":"last","createdDateTime":"",
                "authenticationRequirementPolicies":{{"a":1,"b":[2]}}{padding},"other":3}}"#
            );
            let record = Record::parse(&text).expect("record");
            assert_eq!(record.name_hashes().is_some(), !padding.is_empty());
            reads_alike(&record);
        }
    }

    fn reads_alike(record: &Record) {
        let keyed = record.keyed(&TABLE);
        for (index, name) in TABLE.names().iter().enumerate() {
            assert_eq!(keyed.get(index), record.get(name), "{name}");
            assert_eq!(keyed.position(index), record.position_of(name), "{name}");
        }
        assert_eq!(keyed.text(TABLE.index("id")).as_deref(), Some("last"));
        assert_eq!(
            keyed.text(TABLE.index("userId")).as_deref(),
            Some("decoded")
        );
        assert_eq!(keyed.non_empty(TABLE.index("createdDateTime")), None);
        assert_eq!(keyed.get(TABLE.index("ünïcode")), None);
        assert_eq!(
            keyed.pick(
                TABLE.index("authenticationRequirementPolicies"),
                ["b", "a", "c"]
            ),
            Some([Some("[2]"), Some("1"), None])
        );
        assert_eq!(keyed.position(99), None);
    }
}
