//! The maps behind the cache: `Sharded`, a hash map in `SHARDS` pieces with a
//! lock each, hashed with `FastHasher` (also the rate limits' hasher).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::RwLock;

/// FxHash-style: a multiply and a rotate per 8 bytes. Not keyed, which is fine
/// here: only the server inserts (keys written by admins, tokens it verified),
/// so nobody outside can pick colliding keys to slow the maps down.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        // Fold the high bits down: hashbrown takes its control bits from the top.
        self.0 ^ (self.0 >> 29)
    }
}

impl FastHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub(super) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

pub(super) const SHARDS: usize = 32;

/// A map in `SHARDS` pieces, each with its own read-write lock.
pub(super) struct Sharded<K, V> {
    pub(super) shards: Box<[RwLock<FastMap<K, V>>]>,
}

impl<K: Hash + Eq, V: Clone> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }
}

/// Which of `shards` pieces a key of `FastHasher` hash `hash` goes to, for a
/// map that hashes its keys with `FastHasher` too: from the middle bits. The
/// map inside takes its buckets from the low bits and the tags it compares
/// first from the top seven. Taken from the top (as before), every key of a
/// shard had one of only four tags, so most probes compared whole keys: a
/// million keys' load spent 10 % of its time in memcmp, and lookups paid it too.
pub fn shard_index(hash: u64, shards: usize) -> usize {
    (hash >> 40) as usize % shards
}

impl<K: Hash + Eq, V: Clone> Sharded<K, V> {
    pub(super) fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &RwLock<FastMap<K, V>> {
        let mut h = FastHasher::default();
        key.hash(&mut h);
        &self.shards[shard_index(h.finish(), SHARDS)]
    }

    pub(super) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.shard(key).read().unwrap_or_else(|p| p.into_inner());
        map.get(key).cloned()
    }

    pub(super) fn write<Q: Hash + ?Sized>(
        &self,
        key: &Q,
    ) -> std::sync::RwLockWriteGuard<'_, FastMap<K, V>> {
        self.shard(key).write().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts `fresh`'s contents in place of this map's, one shard at a time.
    pub(super) fn replace_with(&self, fresh: Sharded<K, V>) {
        for (mine, theirs) in self.shards.iter().zip(fresh.shards.into_vec()) {
            *mine.write().unwrap_or_else(|p| p.into_inner()) =
                theirs.into_inner().unwrap_or_else(|p| p.into_inner());
        }
    }

    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// hashbrown compares a 7-bit tag from the top of the hash before it
    /// compares keys. A shard's keys must not share those bits, or lookups
    /// compare whole keys on most probes.
    #[test]
    fn the_keys_of_one_shard_spread_over_the_maps_tags() {
        let map: Sharded<String, ()> = Sharded::default();
        let mut tags = std::collections::HashSet::new();
        for i in 0..20_000 {
            let id = format!("cid_{i:022}");
            if std::ptr::eq(map.shard(id.as_str()), &map.shards[0]) {
                let mut h = FastHasher::default();
                id.as_str().hash(&mut h);
                tags.insert(h.finish() >> 57);
            }
        }
        assert!(
            tags.len() > 100,
            "only {} of 128 tags in one shard",
            tags.len()
        );
    }
}
