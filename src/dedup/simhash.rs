//! Near-duplicate fingerprints: a 64-bit SimHash over word shingles of an article's body, and
//! the band index that finds every fingerprint within a Hamming distance without scanning them
//! all. Pure; the store keeps the fingerprints and fills the index from them.
//!
//! The hash functions here are part of the database contract: fingerprints are stored, so they
//! must never change between versions (a test pins them).

use std::collections::HashMap;

/// Words per shingle, chosen on the labelled set (`cargo bench --bench dedup`): single words
/// linked unrelated posts on the same subject; three-word shingles moved so many bits under
/// light copy-editing that half the syndicated copies were missed; pairs keep both in check.
pub const SHINGLE_WORDS: usize = 2;

/// Bits of a fingerprint.
pub const BITS: u32 = 64;

/// The fingerprint is cut into this many bands of 16 bits, each indexed by [`BandIndex`].
pub const BANDS: usize = 4;

/// The 64-bit SimHash of `text`, or `None` when it has no word at all.
///
/// Words are runs of letters and digits, lower-cased; a Chinese or Japanese character is a
/// word of its own, since those scripts put no spaces between words.
pub fn simhash(text: &str) -> Option<u64> {
    simhash_of_shingles(text, SHINGLE_WORDS)
}

/// [`simhash`] with shingles of `shingle_words` words (for measurements; gleaner stores
/// [`SHINGLE_WORDS`]).
pub fn simhash_of_shingles(text: &str, shingle_words: usize) -> Option<u64> {
    let words = word_hashes(text);
    if words.is_empty() {
        return None;
    }
    let mut weights = [0i32; BITS as usize];
    let width = shingle_words.clamp(1, words.len());
    for shingle in words.windows(width) {
        let mut combined = 0u64;
        for (i, word) in shingle.iter().enumerate() {
            combined ^= word.rotate_left(21 * i as u32);
        }
        let hash = fmix64(combined);
        for (bit, weight) in weights.iter_mut().enumerate() {
            if hash >> bit & 1 == 1 {
                *weight += 1;
            } else {
                *weight -= 1;
            }
        }
    }
    Some(
        weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0)
            .fold(0u64, |acc, (bit, _)| acc | 1 << bit),
    )
}

/// Bits that differ between two fingerprints.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// The fingerprint as SQLite stores it: the same 64 bits read as a signed integer.
pub fn to_stored(hash: u64) -> i64 {
    hash as i64
}

pub fn from_stored(value: i64) -> u64 {
    value as u64
}

/// Band `band` (0 = the most significant 16 bits) of a fingerprint.
pub fn band(hash: u64, band: usize) -> u16 {
    (hash >> (48 - 16 * band)) as u16
}

/// How far from the new fingerprint's own band value a lookup must probe in each band so that
/// no fingerprint within `max_distance` is missed: two fingerprints that differ in at most `d`
/// bits differ, by pigeonhole, in at most `d / BANDS` bits in one of the bands.
pub fn probe_radius(max_distance: u32) -> u32 {
    max_distance / BANDS as u32
}

/// Every 16-bit value within `radius` bits of `value`, itself first.
pub fn band_neighbours(value: u16, radius: u32) -> Vec<u16> {
    let mut out = vec![value];
    let mut frontier = vec![(value, 0u32)];
    for _ in 0..radius {
        let mut next = Vec::new();
        for (v, lowest) in frontier {
            // Flip only bits above the last one flipped, so each value appears once.
            for bit in lowest..16 {
                let flipped = v ^ (1 << bit);
                out.push(flipped);
                next.push((flipped, bit + 1));
            }
        }
        frontier = next;
    }
    out
}

/// Fingerprints one lookup examines at most in one bucket: the newest of the bucket.
///
/// Random fingerprints fill a bucket with about one in 65,536 of the window's articles (15 at a
/// million), so below some five million articles in the window no bucket reaches the cap and
/// a lookup finds what a scan would. A bucket past it is crowded by copies of one text (a
/// boilerplate body, a feed that repeats itself): examining all of them made each new copy cost
/// its whole crowd (44,000 identical bodies: 142 s of writer time instead of 8). The newest are
/// the ones worth examining: a copy follows its original within hours or days, and each older
/// member of a crowd was linked when it arrived, so a link to any of them puts the new article
/// in the same cluster (`duplicate_of` stays an earlier article).
pub const MAX_EXAMINED_PER_BUCKET: usize = 128;

/// Candidates one lookup returns at most: the nearest. The store reads and compares the body of
/// each until one is a copy, so a crowd of stories written from one template (fingerprints a
/// few bits apart over many buckets, figures that differ: never copies) cost each new one
/// hundreds of reads. A copy is nearer its original than the template's other stories are, so
/// it is among the first few.
pub const MAX_CANDIDATES: usize = 32;

/// Fingerprints of recent articles, indexed by band value so that a lookup probes a few
/// dozen buckets instead of comparing with every article: a fingerprint within `d` bits of
/// another matches it in one band within [`probe_radius`]`(d)` bits.
///
/// Held in memory by the store's writer (32 bytes an article, plus the buckets): probing SQLite indexes
/// instead cost 68 B-tree seeks an article at the default distance, which halved the speed of
/// a first poll.
#[derive(Debug, Default)]
pub struct BandIndex {
    /// (article id, fingerprint), in the order inserted: by increasing id, as SQLite assigns
    /// them, so the end of a bucket holds its newest articles.
    fingerprints: Vec<(i64, u64)>,
    /// Per band: band value -> positions in `fingerprints`, oldest first.
    bands: [HashMap<u16, Vec<u32>>; BANDS],
}

/// What one lookup of a [`BandIndex`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// (distance, article id), nearest first and then earliest; [`MAX_CANDIDATES`] at most.
    pub candidates: Vec<(u32, i64)>,
    /// Fingerprints compared: at most [`MAX_EXAMINED_PER_BUCKET`] per bucket probed.
    pub examined: usize,
}

impl BandIndex {
    pub fn insert(&mut self, id: i64, hash: u64) {
        let Ok(position) = u32::try_from(self.fingerprints.len()) else {
            // Four billion recent articles: past any real archive; stop indexing, never panic.
            return;
        };
        self.fingerprints.push((id, hash));
        for (b, bucket) in self.bands.iter_mut().enumerate() {
            bucket.entry(band(hash, b)).or_default().push(position);
        }
    }

    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }

    /// The indexed articles with an id in `ids` whose fingerprint is within `max_distance` bits
    /// of `hash`, among the newest [`MAX_EXAMINED_PER_BUCKET`] of each bucket probed; the
    /// [`MAX_CANDIDATES`] nearest of them.
    pub fn within(&self, hash: u64, max_distance: u32, ids: std::ops::Range<i64>) -> Lookup {
        let radius = probe_radius(max_distance);
        let mut candidates = Vec::new();
        let mut examined = 0;
        for (b, bucket) in self.bands.iter().enumerate() {
            for value in band_neighbours(band(hash, b), radius) {
                let positions = bucket.get(&value).map(Vec::as_slice).unwrap_or_default();
                let newest = &positions[positions.len().saturating_sub(MAX_EXAMINED_PER_BUCKET)..];
                examined += newest.len();
                for &position in newest {
                    let (id, other) = self.fingerprints[position as usize];
                    let bits = distance(hash, other);
                    if bits <= max_distance && ids.contains(&id) {
                        candidates.push((bits, id));
                    }
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.truncate(MAX_CANDIDATES);
        Lookup {
            candidates,
            examined,
        }
    }
}

/// One 64-bit hash per word of `text`, in order.
fn word_hashes(text: &str) -> Vec<u64> {
    let mut hashes = Vec::new();
    let mut word = Fnv::new();
    let mut in_word = false;
    for c in text.chars() {
        if is_unspaced_script(c) {
            if in_word {
                hashes.push(fmix64(word.finish()));
                word = Fnv::new();
                in_word = false;
            }
            let mut single = Fnv::new();
            single.write_char(c);
            hashes.push(fmix64(single.finish()));
        } else if c.is_alphanumeric() {
            for lower in c.to_lowercase() {
                word.write_char(lower);
            }
            in_word = true;
        } else if in_word {
            hashes.push(fmix64(word.finish()));
            word = Fnv::new();
            in_word = false;
        }
    }
    if in_word {
        hashes.push(fmix64(word.finish()));
    }
    hashes
}

/// Han, kana and the like: scripts written without spaces between words.
fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // hiragana, katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x0E00..=0x0E7F    // Thai
        | 0x20000..=0x2FA1F) // CJK extensions B onwards
}

/// FNV-1a: tiny, stable across versions and platforms (unlike std's hashers).
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write_char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// MurmurHash3's finaliser: spreads FNV's weak low bits over all 64, which SimHash needs.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORY: &str = "The city council voted on Tuesday to expand the bus network to the \
        northern suburbs, adding four routes and extending evening service until midnight. \
        The plan, which will cost an estimated 12 million dollars a year, was approved by seven \
        votes to two after a debate that lasted more than three hours.\n\nSupporters said the \
        new routes would cut commuting times for thousands of residents who now drive to work.";

    /// A deterministic sequence of well-spread 64-bit values (splitmix-style).
    fn random_fingerprints(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state = fmix64(state.wrapping_add(0x9e37_79b9_7f4a_7c15));
            state
        }
    }

    #[test]
    fn fingerprints_are_pinned() {
        // Stored in databases: a change here would make every stored fingerprint meaningless.
        assert_eq!(simhash(STORY), Some(0x8dc4_b0f9_b264_4178));
        assert_eq!(simhash("one"), Some(fmix64(word_hashes("one")[0])));
        assert_eq!(simhash(""), None);
        assert_eq!(simhash(" .,;!? "), None);
    }

    #[test]
    fn case_punctuation_and_spacing_do_not_matter() {
        let variant = STORY.to_uppercase().replace(' ', "  ").replace(',', " ,");
        assert_eq!(simhash(STORY), simhash(&variant));
    }

    #[test]
    fn small_edits_move_few_bits_and_other_text_many() {
        let a = simhash(STORY).unwrap();
        let edited = simhash(&STORY.replace("Tuesday", "Wednesday")).unwrap();
        let other = simhash(
            "Heavy snow closed the mountain pass overnight and the road authority warned \
             drivers to expect delays well into the weekend, as ploughs worked to clear drifts \
             that reached two metres in places near the summit tunnel.",
        )
        .unwrap();
        assert!(distance(a, edited) < distance(a, other));
        assert!(distance(a, other) > 12, "{}", distance(a, other));
    }

    #[test]
    fn unspaced_scripts_are_split_into_characters() {
        assert_eq!(word_hashes("東京都").len(), 3);
        assert_eq!(word_hashes("hello 東京 world").len(), 4);
        assert_eq!(word_hashes("서울 특별시").len(), 2);
    }

    #[test]
    fn bands_and_stored_values_round_trip() {
        let hash = 0x0123_4567_89ab_cdef_u64;
        let bands: Vec<u16> = (0..BANDS).map(|b| band(hash, b)).collect();
        assert_eq!(bands, vec![0x0123, 0x4567, 0x89ab, 0xcdef]);
        let negative = to_stored(0xfedc_ba98_7654_3210);
        assert!(negative < 0);
        assert_eq!(from_stored(negative), 0xfedc_ba98_7654_3210);
    }

    #[test]
    fn the_band_index_finds_exactly_what_a_scan_finds_below_the_cap() {
        let mut next = random_fingerprints(0x2545_f491_4f6c_dd1d_u64);
        let mut index = BandIndex::default();
        let mut all = Vec::new();
        for id in 0..3_000i64 {
            // A third are variants of earlier fingerprints, so that there is something to find.
            let hash = if id % 3 == 2 {
                let (_, base) = all[(next() % all.len() as u64) as usize];
                (0..next() % 14).fold(base, |h, _| h ^ 1u64 << (next() % 64))
            } else {
                next()
            };
            index.insert(id, hash);
            all.push((id, hash));
        }
        assert_eq!(index.len(), 3_000);
        let mut found = 0;
        for max_distance in [0, 3, 7, 10, crate::dedup::MAX_NEAR_DISTANCE] {
            for &(probe_id, hash) in all.iter().step_by(7) {
                let ids = 500..probe_id;
                let mut scanned: Vec<(u32, i64)> = all
                    .iter()
                    .filter(|(id, _)| ids.contains(id))
                    .map(|&(id, other)| (distance(hash, other), id))
                    .filter(|&(bits, _)| bits <= max_distance)
                    .collect();
                scanned.sort_unstable();
                found += scanned.len();
                assert_eq!(
                    index.within(hash, max_distance, ids).candidates,
                    scanned,
                    "d={max_distance}"
                );
            }
        }
        assert!(
            found > 300,
            "too few near fingerprints to test anything: {found}"
        );
    }

    #[test]
    fn a_lookup_examines_at_most_the_newest_of_each_bucket() {
        let mut next = random_fingerprints(0x5851_f42d_4c95_7f2d_u64);
        let crowd = 0x0123_4567_89ab_cdef_u64;
        let mut index = BandIndex::default();
        // Ten times the cap of one fingerprint, among others.
        let size = 10 * MAX_EXAMINED_PER_BUCKET as i64;
        for id in 0..size {
            index.insert(2 * id, crowd);
            index.insert(2 * id + 1, next());
        }
        let last = 2 * size;
        for max_distance in [0, 7, crate::dedup::MAX_NEAR_DISTANCE] {
            let buckets = BANDS * band_neighbours(0, probe_radius(max_distance)).len();
            let lookup = index.within(crowd, max_distance, 0..last);
            assert!(
                lookup.examined <= buckets * MAX_EXAMINED_PER_BUCKET,
                "d={max_distance}: {} examined",
                lookup.examined
            );
            // The crowd's own four buckets are full: only the newest of each are compared.
            assert!(lookup.examined >= BANDS * MAX_EXAMINED_PER_BUCKET);
            let crowd_ids: Vec<i64> = lookup
                .candidates
                .iter()
                .filter(|c| c.0 == 0)
                .map(|c| c.1)
                .collect();
            // The earliest of the newest examined, as many as may be returned.
            let first_examined = size - MAX_EXAMINED_PER_BUCKET as i64;
            let expected: Vec<i64> = (first_examined..)
                .take(MAX_CANDIDATES)
                .map(|i| 2 * i)
                .collect();
            assert_eq!(crowd_ids, expected, "d={max_distance}");
        }
        // Only articles in `ids` are candidates: the window's start, and the article itself.
        let lookup = index.within(crowd, 0, last - 20..last - 2);
        let ids: Vec<i64> = lookup.candidates.iter().map(|c| c.1).collect();
        assert_eq!(
            ids,
            (last / 2 - 10..last / 2 - 1)
                .map(|i| 2 * i)
                .collect::<Vec<_>>()
        );
        assert_eq!(lookup.examined, BANDS * MAX_EXAMINED_PER_BUCKET);
    }

    #[test]
    fn a_lookup_returns_the_nearest_candidates_first() {
        // A copy, then a crowd of stories from its template two bits away from it.
        let copy = 0x0123_4567_89ab_cdef_u64;
        let mut index = BandIndex::default();
        index.insert(0, copy);
        for id in 1..=200i64 {
            // Two different bits: 6 * id + 3 is odd, never a multiple of 64.
            let (a, b) = (id % 64, (id * 7 + 3) % 64);
            index.insert(id, copy ^ (1 << a) ^ (1 << b));
        }
        let lookup = index.within(copy, 7, 0..1_000);
        assert_eq!(lookup.candidates.len(), MAX_CANDIDATES);
        assert_eq!(lookup.candidates[0], (0, 0));
        assert!(lookup.candidates[1..].iter().all(|&(bits, _)| bits == 2));
    }

    #[test]
    fn neighbours_cover_exactly_the_radius() {
        assert_eq!(band_neighbours(7, 0), vec![7]);
        let one = band_neighbours(0, 1);
        assert_eq!(one.len(), 17);
        let two = band_neighbours(0b1010, 2);
        assert_eq!(two.len(), 1 + 16 + 120);
        let unique: std::collections::HashSet<_> = two.iter().collect();
        assert_eq!(unique.len(), two.len());
        assert!(two.iter().all(|v| (v ^ 0b1010).count_ones() <= 2));
    }

    #[test]
    fn probing_finds_every_fingerprint_within_the_distance() {
        // Pigeonhole check over many random pairs at every distance up to the largest allowed.
        let mut next = random_fingerprints(0x9e37_79b9_7f4a_7c15_u64);
        for max_distance in 0..=crate::dedup::MAX_NEAR_DISTANCE {
            let radius = probe_radius(max_distance);
            for _ in 0..300 {
                let a = next();
                let mut b = a;
                let mut flipped = 0;
                while flipped < max_distance {
                    let bit = 1u64 << (next() % 64);
                    if b & bit == a & bit {
                        b ^= bit;
                        flipped += 1;
                    }
                }
                let found =
                    (0..BANDS).any(|i| band_neighbours(band(a, i), radius).contains(&band(b, i)));
                assert!(found, "distance {max_distance}: {a:016x} {b:016x}");
            }
        }
    }
}
