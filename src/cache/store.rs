//! The disk store under `CacheRoot`: one file per stored response, named by a hash of its
//! key, holding the metadata and the body behind a header that says how long each is and the
//! body's checksum.
//!
//! Crash safety: an entry is written whole to a temporary file in `CacheRoot/tmp` and renamed
//! into place, so a reader sees a complete file or none. A file whose lengths do not add up
//! (a crash between a rename and the data reaching the disk, a truncation) is refused on open;
//! one whose body does not match its checksum is refused by [`Store::verify`]. Either way the
//! caller removes it, counts it and fetches the response again.
//!
//! The store is shared through the file system only: reactors and the garbage collector each
//! open their own files, and a rename or an unlink never disturbs a reader that already has a
//! file open. Least-recently-used order is kept in the files' modification times, which a hit
//! refreshes ([`Store::touch`]) at most once per [`TOUCH_INTERVAL`].
//!
//! `CacheLock` across reactors (and processes sharing the root) is a file too: `ROOT/locks/`
//! holds one per key being fetched, made with `O_EXCL` ([`Store::lock`]) and removed by its
//! holder; one older than `CacheLockMaxAge` (a holder that died or hung) is taken over.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The file format's magic and version; a file with another is not ours (or is older) and is
/// treated as corrupt.
const MAGIC: &[u8; 8] = b"spfcache";
const VERSION: u32 = 1;

/// Bytes before the metadata: magic, version, metadata length, body length, body checksum.
pub const HEADER: usize = 8 + 4 + 4 + 8 + 8;

/// Largest metadata accepted when reading (a key, a status, times and header fields), and
/// written: a response whose metadata would be larger is not stored.
pub const MAX_META: u32 = 1 << 20;

/// An entry file's header: after the magic and the version, the lengths of the metadata and
/// the body that follow it, and the body's checksum (all little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub meta_len: u32,
    pub body_len: u64,
    pub checksum: u64,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER] {
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&self.meta_len.to_le_bytes());
        header[16..24].copy_from_slice(&self.body_len.to_le_bytes());
        header[24..32].copy_from_slice(&self.checksum.to_le_bytes());
        header
    }

    /// The header at the start of `bytes`, the beginning of an entry file of `size` bytes;
    /// refused, with why, unless its magic and version are ours, its metadata is at most
    /// [`MAX_META`] long and its lengths add up to `size` (so a truncated file is refused
    /// before anything is read after the header). Pure: [`Store::get`] reads, this decides.
    pub fn decode(bytes: &[u8], size: u64) -> Result<Header, &'static str> {
        let header = bytes.get(..HEADER).ok_or("shorter than a header")?;
        if &header[..8] != MAGIC {
            return Err("not a cache entry");
        }
        let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4"));
        let u64_at = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8"));
        if u32_at(8) != VERSION {
            return Err("another format version");
        }
        let decoded = Header {
            meta_len: u32_at(12),
            body_len: u64_at(16),
            checksum: u64_at(24),
        };
        if decoded.meta_len > MAX_META
            || (HEADER as u64)
                .checked_add(u64::from(decoded.meta_len))
                .and_then(|n| n.checked_add(decoded.body_len))
                != Some(size)
        {
            return Err("lengths do not match the file's size");
        }
        Ok(decoded)
    }
}

/// How stale a file's modification time may get before a hit refreshes it: LRU order needs no
/// more precision than this, and most hits then cost no system call.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// What is stored with a body: everything needed to answer from it and to decide how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// The primary key (method, scheme, authority, path and query), checked on open: two keys
    /// whose hashes collide never answer for each other.
    pub key: Vec<u8>,
    /// The secondary key `Vary` made (see `policy::vary_key`); empty without `Vary`.
    pub vary: Vec<(Vec<u8>, Vec<u8>)>,
    pub status: u16,
    /// When the request was sent and when the response head arrived, in Unix seconds.
    pub request_time: u64,
    pub response_time: u64,
    /// The response's header fields as stored (framing fields excluded by the caller).
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Entry files up to this size are read whole when opened (one read): their bodies go out
/// with their heads, with no second read of the file.
const SMALL_ENTRY: u64 = 16 * 1024;

/// What is read first of a larger entry file: its header and, mostly, all its metadata.
const FIRST_READ: usize = 4096;

/// A stored response opened for reading: its metadata, and where its body is in `file`.
#[derive(Debug)]
pub struct Entry {
    pub meta: Meta,
    pub file: File,
    /// Offset of the body in `file`, and its length.
    pub body_offset: u64,
    pub body_len: u64,
    checksum: u64,
    path: PathBuf,
    /// The file's status when it was opened.
    stat: fs::Metadata,
    /// The body, when the file was small enough to be read whole.
    body: Option<Vec<u8>>,
}

impl Entry {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's status as it was opened (identity, size, LRU time).
    pub fn stat(&self) -> &fs::Metadata {
        &self.stat
    }

    /// The body, when it was read with the rest of a small entry; else it is in `file`.
    pub fn take_body(&mut self) -> Option<Vec<u8>> {
        self.body.take()
    }

    /// Another handle on the same open entry (its file descriptor duplicated).
    pub fn try_clone(&self) -> io::Result<Entry> {
        Ok(Entry {
            meta: self.meta.clone(),
            file: self.file.try_clone()?,
            body_offset: self.body_offset,
            body_len: self.body_len,
            checksum: self.checksum,
            path: self.path.clone(),
            stat: self.stat.clone(),
            body: self.body.clone(),
        })
    }
}

/// Why an entry could not be used.
#[derive(Debug)]
pub enum OpenError {
    /// No entry for the key (or one for another key with the same hash).
    Missing,
    /// A file that is not a whole entry of this format; the caller removes it.
    Corrupt(&'static str),
    Io(io::Error),
}

/// How much the store holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub entries: u64,
    /// Bytes of entry files (as their lengths say, not as the disk rounds them).
    pub bytes: u64,
}

/// What a garbage collection did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    pub removed: u64,
    pub freed: u64,
    /// Temporary files of writes that never finished (a crash, a killed writer), removed.
    pub stale_temps: u64,
    pub left: Usage,
}

/// The store at `CacheRoot`.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store at `root`, which must exist and be a writable directory (its `tmp`
    /// subdirectory is made when missing).
    pub fn open(root: &Path) -> io::Result<Store> {
        let meta = fs::metadata(root)?;
        if !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        fs::create_dir_all(root.join("tmp"))?;
        fs::create_dir_all(root.join("locks"))?;
        // Writable: a file can be made (and is removed at once).
        let probe = root
            .join("tmp")
            .join(format!(".probe-{}", std::process::id()));
        File::create(&probe)?;
        fs::remove_file(&probe)?;
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// Where the entry for `key` lives: `ROOT/ab/cd/<32 hex digits>`, from a 128-bit FNV-1a
    /// hash of the key (stable across builds, as files outlive processes).
    pub fn path_of(&self, key: &[u8]) -> PathBuf {
        let hex = format!("{:032x}", fnv1a_128(key));
        self.root.join(&hex[..2]).join(&hex[2..4]).join(hex)
    }

    /// Where the lock of `key` lives: `ROOT/locks/<32 hex digits>`.
    fn lock_path(&self, key: &[u8]) -> PathBuf {
        self.root
            .join("locks")
            .join(format!("{:032x}", fnv1a_128(key)))
    }

    /// Takes the lock of `key` (one fetch of it at a time, across reactors and processes):
    /// `None` while another holder has had it for less than `max_age` at `now`. A lock that
    /// old is taken over. Released when the [`FileLock`] is dropped.
    pub fn lock(
        &self,
        key: &[u8],
        max_age: Duration,
        now: SystemTime,
    ) -> io::Result<Option<FileLock>> {
        let path = self.lock_path(key);
        let tag = format!("{}.{}", std::process::id(), unique());
        // Twice at most: once more after a lock too old was removed, or one released meanwhile.
        for _ in 0..2 {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(mut file) => {
                    if let Err(e) = file.write_all(tag.as_bytes()) {
                        // Not left behind to block the others until it is old.
                        let _ = fs::remove_file(&path);
                        return Err(e);
                    }
                    return Ok(Some(FileLock { path, tag }));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    match fs::metadata(&path).and_then(|m| m.modified()) {
                        Ok(since) if young(since, now, max_age) => return Ok(None),
                        Ok(_) => match fs::remove_file(&path) {
                            Ok(()) => {}
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                            Err(e) => return Err(e),
                        },
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Whether another holder has had the lock of `key` for less than `max_age` at `now`.
    pub fn is_locked(&self, key: &[u8], max_age: Duration, now: SystemTime) -> bool {
        fs::metadata(self.lock_path(key))
            .and_then(|m| m.modified())
            .is_ok_and(|since| young(since, now, max_age))
    }

    /// Stores `body` with `meta` under `meta.key`, replacing any entry there: written whole to
    /// a temporary file, then renamed into place. Returns the entry's size on disk.
    pub fn put(&self, meta: &Meta, body: &[u8]) -> io::Result<u64> {
        let mut writer = self.writer(meta)?;
        writer.write_body(body)?;
        writer.commit()
    }

    /// Starts an entry whose body comes in pieces (a response read from a backend): see
    /// [`Writer`]. Nothing is visible under the key before [`Writer::commit`].
    pub fn writer(&self, meta: &Meta) -> io::Result<Writer> {
        let temp = self.root.join("tmp").join(format!(
            "{}-{}-{:016x}",
            std::process::id(),
            unique(),
            fnv1a_64(&meta.key)
        ));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        let encoded = encode_meta(meta);
        let meta_len = u32::try_from(encoded.len())
            .ok()
            .filter(|&n| n <= MAX_META)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "metadata too large"))?;
        // The header's lengths and checksum are written last, once known.
        file.write_all(&[0; HEADER])?;
        file.write_all(&encoded)?;
        Ok(Writer {
            file,
            temp,
            path: self.path_of(&meta.key),
            meta_len,
            body_len: 0,
            checksum: Fnv64::new(),
        })
    }

    /// Opens the entry for `key`, checking that the file is whole (magic, version, lengths
    /// adding up to its size) and is for this key. The body's checksum is checked by
    /// [`Store::verify`], which reads it all.
    pub fn get(&self, key: &[u8]) -> Result<Entry, OpenError> {
        let path = self.path_of(key);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(OpenError::Missing),
            Err(e) => return Err(OpenError::Io(e)),
        };
        let stat = file.metadata().map_err(OpenError::Io)?;
        let size = stat.len();
        // A small file in one read; of a larger one, what most metadata fits in.
        let whole = size <= SMALL_ENTRY;
        let first = if whole { size as usize } else { FIRST_READ };
        let mut bytes = vec![0; first];
        let got = read_full_at(&file, &mut bytes, 0).map_err(OpenError::Io)?;
        bytes.truncate(got);
        let Header {
            meta_len,
            body_len,
            checksum,
        } = Header::decode(&bytes, size).map_err(OpenError::Corrupt)?;
        let body_offset = HEADER + meta_len as usize;
        if bytes.len() < body_offset {
            // Metadata longer than the first read: the rest of it.
            let had = bytes.len();
            bytes.resize(body_offset, 0);
            let more = read_full_at(&file, &mut bytes[had..], had as u64).map_err(OpenError::Io)?;
            if had + more < body_offset {
                return Err(OpenError::Corrupt("metadata cut short"));
            }
        }
        if whole && bytes.len() as u64 != size {
            return Err(OpenError::Corrupt("shorter than its lengths"));
        }
        let meta = decode_meta(&bytes[HEADER..body_offset])
            .ok_or(OpenError::Corrupt("metadata malformed"))?;
        if meta.key != key {
            return Err(OpenError::Missing);
        }
        let body = whole.then(|| bytes.split_off(body_offset));
        Ok(Entry {
            meta,
            file,
            body_offset: body_offset as u64,
            body_len,
            checksum,
            path,
            stat,
            body,
        })
    }

    /// Whether the entry's body matches its checksum (reads it all, unless it was read with
    /// the entry).
    pub fn verify(&self, entry: &Entry) -> io::Result<bool> {
        if let Some(body) = &entry.body {
            return Ok(fnv1a_64(body) == entry.checksum);
        }
        let mut sum = Fnv64::new();
        let mut buf = vec![0; 64 << 10];
        let mut at = entry.body_offset;
        let end = entry.body_offset + entry.body_len;
        while at < end {
            let want = buf
                .len()
                .min(usize::try_from(end - at).unwrap_or(usize::MAX));
            let n = entry.file.read_at(&mut buf[..want], at)?;
            if n == 0 {
                return Ok(false);
            }
            sum.update(&buf[..n]);
            at += n as u64;
        }
        Ok(sum.finish() == entry.checksum)
    }

    /// Removes the entry for `key` (a purge, an invalidation, a corrupt file); true when there
    /// was one.
    pub fn remove(&self, key: &[u8]) -> io::Result<bool> {
        match fs::remove_file(self.path_of(key)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes `entry`'s file if it is still the one in place (not yet replaced by a newer
    /// entry for its key); true when it was removed.
    pub fn remove_entry(&self, entry: &Entry) -> bool {
        use std::os::unix::fs::MetadataExt;
        let open = &entry.stat;
        let same = fs::metadata(&entry.path)
            .is_ok_and(|there| there.dev() == open.dev() && there.ino() == open.ino());
        same && fs::remove_file(&entry.path).is_ok()
    }

    /// Marks the entry used at `now` (its modification time: the LRU order), unless it was
    /// marked within [`TOUCH_INTERVAL`].
    pub fn touch(&self, entry: &Entry, now: SystemTime) -> io::Result<()> {
        let modified = entry.stat.modified()?;
        if now.duration_since(modified).unwrap_or_default() < TOUCH_INTERVAL {
            return Ok(());
        }
        // The file is open read-only; the times are set through a second, write-capable
        // handle (set_modified needs one).
        OpenOptions::new()
            .write(true)
            .open(&entry.path)?
            .set_modified(now)
    }

    /// Entries and bytes under the root.
    pub fn usage(&self) -> io::Result<Usage> {
        let mut usage = Usage::default();
        self.walk(|_, len, _| {
            usage.entries += 1;
            usage.bytes += len;
        })?;
        Ok(usage)
    }

    /// Removes least-recently-used entries until at most `target` bytes are left, and
    /// temporary files and locks older than `temp_age` (writes that will never finish,
    /// holders that died).
    pub fn collect(
        &self,
        target: u64,
        temp_age: Duration,
        now: SystemTime,
    ) -> io::Result<Collected> {
        let mut entries = Vec::new();
        self.walk(|path, len, modified| entries.push((modified, len, path)))?;
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        let mut done = Collected::default();
        entries.sort();
        for (_, len, path) in entries {
            if total <= target {
                break;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    total -= len;
                    done.removed += 1;
                    done.freed += len;
                }
                // Removed meanwhile (a purge, another collector): no longer counted.
                Err(e) if e.kind() == io::ErrorKind::NotFound => total -= len,
                Err(e) => return Err(e),
            }
        }
        for temp in fs::read_dir(self.root.join("tmp"))? {
            let temp = temp?;
            let modified = temp.metadata()?.modified()?;
            if now.duration_since(modified).unwrap_or_default() >= temp_age
                && fs::remove_file(temp.path()).is_ok()
            {
                done.stale_temps += 1;
            }
        }
        // Locks left by holders that died (taken over anyway once too old).
        for lock in fs::read_dir(self.root.join("locks"))? {
            let lock = lock?;
            let old = lock
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|m| now.duration_since(m).unwrap_or_default() >= temp_age);
            if old {
                let _ = fs::remove_file(lock.path());
            }
        }
        done.left = self.usage()?;
        Ok(done)
    }

    /// Calls `f(path, length, modified)` for every entry file (the two levels of hash
    /// directories under the root; `tmp` and anything else there are not entries).
    fn walk(&self, mut f: impl FnMut(PathBuf, u64, SystemTime)) -> io::Result<()> {
        let is_level = |name: &std::ffi::OsStr| {
            name.len() == 2
                && name
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        for first in fs::read_dir(&self.root)? {
            let first = first?;
            if !is_level(&first.file_name()) || !first.file_type()?.is_dir() {
                continue;
            }
            for second in fs::read_dir(first.path())? {
                let second = second?;
                if !is_level(&second.file_name()) || !second.file_type()?.is_dir() {
                    continue;
                }
                for entry in fs::read_dir(second.path())? {
                    let entry = entry?;
                    let meta = match entry.metadata() {
                        Ok(meta) if meta.is_file() => meta,
                        // Removed since it was listed, or not a file: not counted.
                        _ => continue,
                    };
                    f(entry.path(), meta.len(), meta.modified()?);
                }
            }
        }
        Ok(())
    }
}

/// The lock of a key (see [`Store::lock`]), released on drop: its file removed, unless it was
/// taken over meanwhile (it then holds another holder's tag).
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
    tag: String,
}

impl Drop for FileLock {
    fn drop(&mut self) {
        if fs::read(&self.path).is_ok_and(|held| held == self.tag.as_bytes()) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// An entry being written (see [`Store::writer`]).
#[derive(Debug)]
pub struct Writer {
    file: File,
    temp: PathBuf,
    path: PathBuf,
    meta_len: u32,
    body_len: u64,
    checksum: Fnv64,
}

impl Writer {
    /// Appends body bytes (a blocking write to the page cache, as the spill files do).
    pub fn write_body(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.body_len += bytes.len() as u64;
        self.checksum.update(bytes);
        Ok(())
    }

    /// Writes `old`'s body as this entry's whole body (a refresh: new metadata, the same
    /// body), copied inside the kernel where it can be; the checksum is `old`'s, already
    /// verified. Only on a writer with no body yet.
    pub fn copy_body(&mut self, old: &Entry) -> io::Result<()> {
        debug_assert_eq!(self.body_len, 0);
        if let Some(body) = &old.body {
            return self.write_body(body);
        }
        let mut at = old.body_offset;
        let end = old.body_offset + old.body_len;
        while at < end {
            let want = usize::try_from(end - at).unwrap_or(usize::MAX).min(1 << 30);
            match crate::sys::copy_file_range(
                old.file.as_raw_fd(),
                &mut at,
                self.file.as_raw_fd(),
                want,
            ) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Not between these files (another file system, an old kernel): through
                // user space, from where the copy got to.
                Err(_) => {
                    let mut buf = vec![0; 64 << 10];
                    while at < end {
                        let want = buf
                            .len()
                            .min(usize::try_from(end - at).unwrap_or(usize::MAX));
                        let n = old.file.read_at(&mut buf[..want], at)?;
                        if n == 0 {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                        self.file.write_all(&buf[..n])?;
                        at += n as u64;
                    }
                }
            }
        }
        self.body_len = old.body_len;
        self.checksum = Fnv64(old.checksum);
        Ok(())
    }

    /// Bytes of body written so far.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Finishes the entry: the header written, the file renamed into place (replacing any
    /// older entry for the key). Returns the entry's size.
    pub fn commit(self) -> io::Result<u64> {
        self.commit_unless(|| false).map(|size| size.unwrap_or(0))
    }

    /// [`Writer::commit`] in place of `old` only: nothing is stored (`None`) when the file
    /// under the key is no longer `old`'s (removed by a purge or an invalidation, or replaced
    /// by a newer response) when the rename is due.
    pub fn commit_replacing(self, old: &Entry) -> io::Result<Option<u64>> {
        use std::os::unix::fs::MetadataExt;
        let path = self.path.clone();
        self.commit_unless(|| {
            let was = &old.stat;
            !fs::metadata(&path).is_ok_and(|now| now.dev() == was.dev() && now.ino() == was.ino())
        })
    }

    /// Commits unless `gone()` says, just before the rename, that it must not.
    fn commit_unless(mut self, gone: impl FnOnce() -> bool) -> io::Result<Option<u64>> {
        let header = Header {
            meta_len: self.meta_len,
            body_len: self.body_len,
            checksum: self.checksum.finish(),
        };
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&header.encode())?;
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        if gone() {
            return Ok(None);
        }
        fs::rename(&self.temp, &self.path)?;
        let size = HEADER as u64 + u64::from(self.meta_len) + self.body_len;
        // Renamed: nothing is left to remove on drop.
        self.temp = PathBuf::new();
        Ok(Some(size))
    }
}

impl Drop for Writer {
    /// An entry given up (the response failed, was too large) leaves no temporary file.
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Whether a lock taken at `since` is younger than `max_age` at `now`. One from further in the
/// future than that (the clock was set back) is not: it would otherwise hold for ever.
fn young(since: SystemTime, now: SystemTime, max_age: Duration) -> bool {
    match now.duration_since(since) {
        Ok(age) => age < max_age,
        Err(ahead) => ahead.duration() < max_age,
    }
}

/// Reads into `buf` from `offset` until it is full or the file ends; how much was read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A number no other writer of this process has had (temporary names must not collide
/// between reactors).
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The metadata as stored after the header: the key (a `u32` length, then its bytes), the
/// status (`u16`), the two times (`u64`), then the `Vary` pairs and the fields, each a `u32`
/// count of name and value blobs; all little-endian. A blob longer than `u32::MAX` cannot be
/// written: the writer refuses metadata past [`MAX_META`] long before.
pub fn encode_meta(meta: &Meta) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let put = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    };
    put(&mut out, &meta.key);
    out.extend_from_slice(&meta.status.to_le_bytes());
    out.extend_from_slice(&meta.request_time.to_le_bytes());
    out.extend_from_slice(&meta.response_time.to_le_bytes());
    for pairs in [&meta.vary, &meta.fields] {
        out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
        for (name, value) in pairs {
            put(&mut out, name);
            put(&mut out, value);
        }
    }
    out
}

/// The metadata [`encode_meta`] wrote, or `None` when `bytes` are not exactly one encoding:
/// a length or count past the bytes left, or bytes left over. Allocates no more than `bytes`
/// holds, whatever the counts say. Pure: [`Store::get`] reads, this decodes.
pub fn decode_meta(mut bytes: &[u8]) -> Option<Meta> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (bytes.get(..n)?, bytes.get(n..)?);
        *bytes = rest;
        Some(head)
    }
    fn u32_of(bytes: &mut &[u8]) -> Option<u32> {
        Some(u32::from_le_bytes(take(bytes, 4)?.try_into().ok()?))
    }
    fn u64_of(bytes: &mut &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(take(bytes, 8)?.try_into().ok()?))
    }
    fn blob(bytes: &mut &[u8]) -> Option<Vec<u8>> {
        let n = u32_of(bytes)? as usize;
        Some(take(bytes, n)?.to_vec())
    }
    fn pairs(bytes: &mut &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let n = u32_of(bytes)? as usize;
        // Each pair takes at least 8 bytes: a count past what is left is malformed, and must
        // not size an allocation.
        if n > bytes.len() / 8 {
            return None;
        }
        (0..n).map(|_| Some((blob(bytes)?, blob(bytes)?))).collect()
    }
    let key = blob(&mut bytes)?;
    let status = u16::from_le_bytes(take(&mut bytes, 2)?.try_into().ok()?);
    let request_time = u64_of(&mut bytes)?;
    let response_time = u64_of(&mut bytes)?;
    let vary = pairs(&mut bytes)?;
    let fields = pairs(&mut bytes)?;
    bytes.is_empty().then_some(Meta {
        key,
        vary,
        status,
        request_time,
        response_time,
        fields,
    })
}

/// FNV-1a, 64-bit, for bodies' checksums.
#[derive(Clone, Copy, Debug)]
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Fnv64 {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(self) -> u64 {
        self.0
    }
}

fn fnv1a_64(bytes: &[u8]) -> u64 {
    let mut h = Fnv64::new();
    h.update(bytes);
    h.finish()
}

/// FNV-1a, 128-bit, for entries' file names.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for &b in bytes {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    h
}

#[cfg(test)]
mod tests;
