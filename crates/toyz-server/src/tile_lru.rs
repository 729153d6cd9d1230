//! The memory cache of encoded tiles: least recently used first out, bounded in bytes (keys and
//! values counted), whatever the tiles' sizes.

use bytes::Bytes;
use lru::LruCache;

/// A memory cache of encoded tiles bounded in bytes.
pub struct TileLru {
    map: LruCache<String, Bytes>,
    bytes: u64,
    cap: u64,
}

impl TileLru {
    pub fn new(cap: u64) -> TileLru {
        TileLru {
            map: LruCache::unbounded(),
            bytes: 0,
            cap,
        }
    }
    pub fn get(&mut self, k: &str) -> Option<Bytes> {
        self.map.get(k).cloned()
    }
    pub fn put(&mut self, k: String, v: Bytes) {
        let n = v.len() as u64 + k.len() as u64;
        if n > self.cap {
            return;
        }
        if let Some(old) = self.map.put(k.clone(), v) {
            self.bytes -= old.len() as u64 + k.len() as u64;
        }
        self.bytes += n;
        while self.bytes > self.cap {
            match self.map.pop_lru() {
                Some((k, v)) => self.bytes -= v.len() as u64 + k.len() as u64,
                None => break,
            }
        }
    }
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_holds_at_most_its_bytes_dropping_the_least_recently_used() {
        let mut c = TileLru::new(100);
        let tile = |n: usize| Bytes::from(vec![7u8; n]);
        c.put("a".into(), tile(39)); // 40 bytes with its key
        c.put("b".into(), tile(39));
        assert_eq!(c.bytes(), 80);
        assert!(c.get("a").is_some()); // a is now the most recent
        c.put("c".into(), tile(39));
        assert_eq!(c.bytes(), 80, "b went to make room");
        assert!(c.get("b").is_none() && c.get("a").is_some() && c.get("c").is_some());
        // Replacing a key counts the new value only.
        c.put("a".into(), tile(9));
        assert_eq!(c.bytes(), 50);
        // A tile larger than the whole cache is not kept (and evicts nothing).
        c.put("huge".into(), tile(200));
        assert!(c.get("huge").is_none());
        assert_eq!(c.bytes(), 50);
    }
}
