//! Partition: a record's key address -> the shard that owns it.
//!
//! In: an address and the shard count. Out: a shard index in `0..n`.
//! Guarantees: a fixed-seed hash, so a key maps to the same shard in every run and process
//! (Kafka publishing uses the same function to pick partitions).

use crate::record::Addr;

const SEED: u64 = 0x7061_7274_6974_696f; // "partitio"

#[inline]
pub fn hash_addr(a: &Addr) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(&a.0, SEED)
}

/// The shard (or Kafka partition) of `a` among `n`.
#[inline]
pub fn shard_of(a: &Addr, n: usize) -> usize {
    ((hash_addr(a) as u128 * n as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn stable_and_spread() {
        let mut counts = [0u32; 4];
        for i in 0..4000u32 {
            let a = Addr::v4(i.to_be_bytes());
            let s = shard_of(&a, 4);
            assert_eq!(s, shard_of(&a, 4));
            counts[s] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
        assert_eq!(shard_of(&Addr::v4([1, 2, 3, 4]), 1), 0);
    }
}
