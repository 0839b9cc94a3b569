//! The store on a real directory: round trips, crash leftovers, corruption, LRU collection.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system's temporary one, removed on drop.
struct TempRoot(PathBuf);

impl TempRoot {
    fn new() -> TempRoot {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "spoonfeed-store-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir_all(&dir).unwrap();
        TempRoot(dir)
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn meta(key: &str) -> Meta {
    Meta {
        key: key.as_bytes().to_vec(),
        vary: vec![(b"accept-encoding".to_vec(), b"gzip".to_vec())],
        status: 200,
        request_time: 1_795_643_016,
        response_time: 1_795_643_017,
        fields: vec![
            (b"Content-Type".to_vec(), b"text/plain".to_vec()),
            (b"ETag".to_vec(), b"\"v1\"".to_vec()),
        ],
    }
}

fn body_of(entry: &Entry) -> Vec<u8> {
    let mut body = vec![0; entry.body_len as usize];
    entry
        .file
        .read_exact_at(&mut body, entry.body_offset)
        .unwrap();
    body
}

#[test]
fn an_entry_reads_back_as_written_and_verifies() {
    let root = TempRoot::new();
    let store = Store::open(&root.0).unwrap();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let size = store.put(&meta("GET http://a/x"), &body).unwrap();
    let entry = store.get(b"GET http://a/x").unwrap();
    assert_eq!(entry.meta, meta("GET http://a/x"));
    assert_eq!(body_of(&entry), body);
    assert!(store.verify(&entry).unwrap());
    assert_eq!(
        store.usage().unwrap(),
        Usage {
            entries: 1,
            bytes: size
        }
    );
    // Replaced whole by a newer response; an empty body is an entry too.
    store.put(&meta("GET http://a/x"), b"").unwrap();
    let entry = store.get(b"GET http://a/x").unwrap();
    assert_eq!(entry.body_len, 0);
    assert!(store.verify(&entry).unwrap());
    assert_eq!(store.usage().unwrap().entries, 1);
    assert!(store.remove(b"GET http://a/x").unwrap());
    assert!(!store.remove(b"GET http://a/x").unwrap());
    assert!(matches!(
        store.get(b"GET http://a/x"),
        Err(OpenError::Missing)
    ));
}

#[test]
fn names_are_stable_hashes_in_two_levels() {
    let root = TempRoot::new();
    let store = Store::open(&root.0).unwrap();
    let path = store.path_of(b"GET http://a/x");
    let rel = path
        .strip_prefix(&root.0)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let parts: Vec<&str> = rel.split('/').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!((parts[0].len(), parts[1].len(), parts[2].len()), (2, 2, 32));
    assert!(parts[2].starts_with(&format!("{}{}", parts[0], parts[1])));
    // The same on every run and build: files outlive processes.
    assert_eq!(
        format!("{:032x}", fnv1a_128(b"")),
        "6c62272e07bb014262b821756295c58d"
    );
    assert_ne!(store.path_of(b"GET http://a/y"), path);
}

#[test]
fn a_writer_given_up_or_cut_short_leaves_nothing_to_serve() {
    let root = TempRoot::new();
    let store = Store::open(&root.0).unwrap();
    let mut writer = store.writer(&meta("k")).unwrap();
    writer.write_body(b"half of it").unwrap();
    assert_eq!(writer.body_len(), 10);
    drop(writer);
    assert!(matches!(store.get(b"k"), Err(OpenError::Missing)));
    assert_eq!(fs::read_dir(root.0.join("tmp")).unwrap().count(), 0);
    // A crash leaves a temporary file behind: never served, collected once old.
    let mut crashed = store.writer(&meta("k")).unwrap();
    crashed.write_body(b"partial").unwrap();
    std::mem::forget(crashed);
    assert!(matches!(store.get(b"k"), Err(OpenError::Missing)));
    let later = SystemTime::now() + Duration::from_secs(3600);
    let done = store
        .collect(u64::MAX, Duration::from_secs(600), later)
        .unwrap();
    assert_eq!(done.stale_temps, 1);
    assert_eq!(fs::read_dir(root.0.join("tmp")).unwrap().count(), 0);
}

#[test]
fn corrupt_files_are_refused_and_bad_bodies_fail_verification() {
    let root = TempRoot::new();
    let store = Store::open(&root.0).unwrap();
    let body = vec![7u8; 10_000];
    store.put(&meta("k"), &body).unwrap();
    let path = store.path_of(b"k");
    let whole = fs::read(&path).unwrap();
    // Truncated (a crash before the data reached the disk): the lengths do not add up.
    fs::write(&path, &whole[..whole.len() - 1]).unwrap();
    assert!(matches!(store.get(b"k"), Err(OpenError::Corrupt(_))));
    // Longer than it says.
    fs::write(&path, [&whole[..], b"x"].concat()).unwrap();
    assert!(matches!(store.get(b"k"), Err(OpenError::Corrupt(_))));
    // Another file entirely, or only a header's worth.
    fs::write(&path, b"not ours").unwrap();
    assert!(matches!(store.get(b"k"), Err(OpenError::Corrupt(_))));
    fs::write(&path, &whole[..HEADER]).unwrap();
    assert!(matches!(store.get(b"k"), Err(OpenError::Corrupt(_))));
    // A flipped body byte: whole, but fails its checksum.
    let mut flipped = whole.clone();
    *flipped.last_mut().unwrap() ^= 1;
    fs::write(&path, &flipped).unwrap();
    let entry = store.get(b"k").unwrap();
    assert!(!store.verify(&entry).unwrap());
    // An entry for another key under this key's name (a hash collision) is not this key's.
    fs::write(&path, &whole).unwrap();
    let other = store.path_of(b"other");
    fs::create_dir_all(other.parent().unwrap()).unwrap();
    fs::copy(&path, &other).unwrap();
    assert!(matches!(store.get(b"other"), Err(OpenError::Missing)));
}

#[test]
fn metadata_decoding_never_panics_on_cut_or_garbled_bytes() {
    let encoded = encode_meta(&meta("GET http://a/x"));
    assert_eq!(decode_meta(&encoded), Some(meta("GET http://a/x")));
    for cut in 0..encoded.len() {
        assert_eq!(decode_meta(&encoded[..cut]), None, "cut at {cut}");
    }
    for at in 0..encoded.len() {
        let mut garbled = encoded.clone();
        garbled[at] = 0xff;
        // Anything but a panic or a huge allocation.
        let _ = decode_meta(&garbled);
    }
}

#[test]
fn collection_removes_least_recently_used_entries_down_to_the_target() {
    let root = TempRoot::new();
    let store = Store::open(&root.0).unwrap();
    let now = SystemTime::now();
    let mut size = 0;
    for i in 0..10u64 {
        let key = format!("k{i}");
        size = store.put(&meta(&key), &[b'x'; 1000]).unwrap();
        // k0 was used longest ago, k9 most recently.
        let used = now - Duration::from_secs(1000 - i * 10);
        File::options()
            .write(true)
            .open(store.path_of(key.as_bytes()))
            .unwrap()
            .set_modified(used)
            .unwrap();
    }
    let done = store
        .collect(size * 6, Duration::from_secs(600), now)
        .unwrap();
    assert_eq!((done.removed, done.freed), (4, 4 * size));
    assert_eq!(
        done.left,
        Usage {
            entries: 6,
            bytes: 6 * size
        }
    );
    for i in 0..10 {
        let kept = store.get(format!("k{i}").as_bytes()).is_ok();
        assert_eq!(kept, i >= 4, "k{i}");
    }
    // A hit makes an entry recent again: k4 now outlives k5.
    let entry = store.get(b"k4").unwrap();
    store.touch(&entry, now).unwrap();
    store
        .collect(size * 5, Duration::from_secs(600), now)
        .unwrap();
    assert!(store.get(b"k4").is_ok());
    assert!(store.get(b"k5").is_err());
}

#[test]
fn touch_writes_at_most_once_per_interval() {
    let root = TempRoot::new();
    let store = Store::open(&root.0).unwrap();
    store.put(&meta("k"), b"body").unwrap();
    let entry = store.get(b"k").unwrap();
    let written = entry.file.metadata().unwrap().modified().unwrap();
    // Within the interval: unchanged.
    store.touch(&entry, written + TOUCH_INTERVAL / 2).unwrap();
    assert_eq!(
        fs::metadata(entry.path()).unwrap().modified().unwrap(),
        written
    );
    let later = written + TOUCH_INTERVAL * 2;
    store.touch(&entry, later).unwrap();
    assert_eq!(
        fs::metadata(entry.path()).unwrap().modified().unwrap(),
        later
    );
}

#[test]
fn the_root_must_be_a_writable_directory() {
    let root = TempRoot::new();
    let file = root.0.join("plain-file");
    fs::write(&file, b"x").unwrap();
    assert!(Store::open(&file).is_err());
    assert!(Store::open(&root.0.join("missing")).is_err());
    assert!(Store::open(&root.0).is_ok());
    // Files that are not entries (under the root, or misnamed) are neither counted nor
    // collected.
    fs::write(root.0.join("README"), b"x").unwrap();
    fs::create_dir_all(root.0.join("zz")).unwrap();
    fs::write(root.0.join("zz").join("x"), b"x").unwrap();
    let store = Store::open(&root.0).unwrap();
    assert_eq!(store.usage().unwrap(), Usage::default());
}

#[test]
fn a_lock_is_held_once_released_on_drop_and_taken_over_when_too_old() {
    let root = TempRoot::new();
    let store = Store::open(&root.0).unwrap();
    let max_age = Duration::from_secs(5);
    let now = SystemTime::now();
    let first = store.lock(b"k", max_age, now).unwrap().expect("free");
    assert!(store.lock(b"k", max_age, now).unwrap().is_none());
    assert!(store.is_locked(b"k", max_age, now));
    // Another key is not held.
    assert!(store.lock(b"other", max_age, now).unwrap().is_some());
    drop(first);
    assert!(!store.is_locked(b"k", max_age, now));
    let second = store.lock(b"k", max_age, now).unwrap().expect("released");
    // Its holder outlived max_age: taken over, and the old holder's release leaves the new
    // holder's lock in place.
    let later = now + max_age + Duration::from_secs(1);
    assert!(!store.is_locked(b"k", max_age, later));
    let third = store
        .lock(b"k", max_age, later)
        .unwrap()
        .expect("taken over");
    drop(second);
    assert!(store.is_locked(b"k", max_age, later - max_age));
    drop(third);
    assert!(!store.is_locked(b"k", max_age, now));
}

#[test]
fn collection_removes_locks_left_by_dead_holders() {
    let root = TempRoot::new();
    let store = Store::open(&root.0).unwrap();
    let max_age = Duration::from_secs(5);
    let lock = store.lock(b"k", max_age, SystemTime::now()).unwrap();
    // A holder that died never drops its lock.
    std::mem::forget(lock);
    let now = SystemTime::now();
    store.collect(0, Duration::from_secs(3600), now).unwrap();
    assert!(store.is_locked(b"k", max_age, now));
    let hours_later = now + Duration::from_secs(3601);
    store
        .collect(0, Duration::from_secs(3600), hours_later)
        .unwrap();
    assert!(!store.is_locked(b"k", max_age, now));
}

#[test]
fn small_entries_are_read_whole_and_long_metadata_is_read_on() {
    let root = TempRoot::new();
    let store = Store::open(&root.0).unwrap();
    // Small: the body comes with the entry, and verifies from memory.
    store.put(&meta("small"), b"tiny body").unwrap();
    let mut entry = store.get(b"small").unwrap();
    assert!(store.verify(&entry).unwrap());
    assert_eq!(entry.take_body().as_deref(), Some(&b"tiny body"[..]));
    assert_eq!(body_of(&entry), b"tiny body");
    // Larger, with metadata longer than the first read: the rest of it is read on, and the
    // body stays in the file.
    let mut long = meta("large");
    long.fields
        .push((b"X-Long".to_vec(), vec![b'v'; FIRST_READ * 2]));
    let body: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
    store.put(&long, &body).unwrap();
    let mut entry = store.get(b"large").unwrap();
    assert_eq!(entry.meta, long);
    assert!(entry.take_body().is_none());
    assert_eq!(body_of(&entry), body);
    assert!(store.verify(&entry).unwrap());
    // Small, but with its metadata cut: refused, not read past.
    store.put(&meta("cut"), b"abc").unwrap();
    let path = store.path_of(b"cut");
    let whole = fs::read(&path).unwrap();
    fs::write(&path, &whole[..HEADER + 5]).unwrap();
    assert!(matches!(store.get(b"cut"), Err(OpenError::Corrupt(_))));
}

#[test]
fn a_rewrite_lands_only_over_the_entry_it_replaces() {
    let root = TempRoot::new();
    let store = Store::open(&root.0).unwrap();
    store.put(&meta("k"), b"old").unwrap();
    let old = store.get(b"k").unwrap();
    // Still in place: replaced.
    let mut w = store.writer(&meta("k")).unwrap();
    w.write_body(b"new").unwrap();
    assert!(w.commit_replacing(&old).unwrap().is_some());
    let current = store.get(b"k").unwrap();
    // Purged meanwhile: nothing comes back, and no temporary file is left.
    store.remove(b"k").unwrap();
    let mut w = store.writer(&meta("k")).unwrap();
    w.write_body(b"stale").unwrap();
    assert!(w.commit_replacing(&current).unwrap().is_none());
    assert!(matches!(store.get(b"k"), Err(OpenError::Missing)));
    assert_eq!(fs::read_dir(root.0.join("tmp")).unwrap().count(), 0);
    // Replaced by a newer entry meanwhile: that one stays.
    store.put(&meta("k"), b"newer").unwrap();
    let mut w = store.writer(&meta("k")).unwrap();
    w.write_body(b"stale").unwrap();
    assert!(w.commit_replacing(&current).unwrap().is_none());
    let mut entry = store.get(b"k").unwrap();
    assert_eq!(entry.take_body().as_deref(), Some(&b"newer"[..]));
}

#[test]
fn a_lock_from_the_future_does_not_hold_for_ever() {
    let root = TempRoot::new();
    let store = Store::open(&root.0).unwrap();
    let max_age = Duration::from_secs(5);
    let now = SystemTime::now();
    let _held = store.lock(b"k", max_age, now).unwrap().expect("free");
    // The clock set back by an hour: the lock's time is far ahead, and it is taken over.
    let earlier = now - Duration::from_secs(3600);
    assert!(!store.is_locked(b"k", max_age, earlier));
    // Slightly ahead (clocks of two processes): still held.
    assert!(store.is_locked(b"k", max_age, now - Duration::from_secs(1)));
}

#[test]
fn a_refresh_copies_the_body_under_new_metadata() {
    let root = TempRoot::new();
    let store = Store::open(&root.0).unwrap();
    for len in [5usize, 300_000] {
        let body: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
        store.put(&meta("k"), &body).unwrap();
        let old = store.get(b"k").unwrap();
        let mut refreshed = meta("k");
        refreshed.response_time += 60;
        let mut w = store.writer(&refreshed).unwrap();
        w.copy_body(&old).unwrap();
        assert_eq!(w.body_len(), len as u64);
        assert!(w.commit_replacing(&old).unwrap().is_some());
        let entry = store.get(b"k").unwrap();
        assert_eq!(entry.meta, refreshed);
        assert_eq!(body_of(&entry), body);
        assert!(store.verify(&entry).unwrap());
    }
}
