//! Fixed-size blocks, the per-reactor pool they come from, the chains of blocks a flow
//! writes from with `writev`, the temporary file a response spills into past its memory
//! budget (sent with `sendfile`), and the pipes bodies are spliced through.
//!
//! A block has exactly one owner at a time (a chain, or the pool's free list). Bytes are read
//! from a socket straight into the tail block of the chain that will write them out, so a body
//! is copied once, by the kernel, in each direction. An empty chain holds no block: an idle
//! connection costs no buffer memory.

use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};

/// Most blocks kept on the free list; blocks returned past it are freed.
const MAX_FREE_BLOCKS: usize = 1024;

/// Most iovecs passed to one `writev`, far below `IOV_MAX` (1024 on Linux).
const MAX_IOVECS: usize = 64;

/// Most blocks one read fills (the tail's spare room and fresh blocks): 64 KiB at the default
/// block size.
pub const MAX_READ_BLOCKS: usize = 4;

/// Fewest bytes kept back from body reads: what one round may push after a single check
/// (a re-encoded response head and the body bytes of one landing read, or an answer of ours).
pub const MIN_RESERVE_BYTES: usize = 128 * 1024;

/// One fixed buffer. Invariant: `start <= end <= data.len()`; `data[start..end]` are the bytes
/// not yet consumed.
#[derive(Debug)]
pub struct Block {
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Block {
    fn bytes(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    fn spare(&mut self) -> &mut [u8] {
        &mut self.data[self.end..]
    }
}

/// The pool is at its cap: no block can be had until one is returned.
#[derive(Debug, PartialEq, Eq)]
pub struct Exhausted;

/// The per-reactor source of blocks (`ProxyIOBufferSize` each, at most `ProxyBufferPoolSize`
/// in all). Blocks are allocated when first needed and kept on a free list when returned.
///
/// A reserve of blocks is kept back from body reads ([`BufPool::can_fill`]) so that heads
/// and answers of our own can still be written when bodies have filled the pool; new
/// exchanges stop ([`BufPool::can_start`]) before the reserve is half used. The cap itself is
/// never exceeded: a take past it fails.
#[derive(Debug)]
pub struct BufPool {
    free: Vec<Box<[u8]>>,
    block_size: usize,
    /// Most blocks handed out at once.
    cap: usize,
    reserve: usize,
    /// Blocks handed out and not yet returned.
    outstanding: usize,
    /// Most blocks handed out at once so far.
    peak: usize,
}

impl BufPool {
    /// A pool of `block_size`-byte blocks holding at most `pool_bytes` (at least one block).
    pub fn new(block_size: usize, pool_bytes: usize) -> BufPool {
        let mut pool = BufPool {
            free: Vec::new(),
            block_size,
            cap: 0,
            reserve: 0,
            outstanding: 0,
            peak: 0,
        };
        pool.configure(block_size, pool_bytes);
        pool
    }

    /// Applies new sizes (a reload). Blocks of the old size in use are freed when returned.
    pub fn configure(&mut self, block_size: usize, pool_bytes: usize) {
        if block_size != self.block_size {
            self.free.clear();
        }
        self.block_size = block_size;
        self.cap = (pool_bytes / block_size).max(1);
        self.reserve = (self.cap / 8)
            .max(MIN_RESERVE_BYTES.div_ceil(block_size))
            .min(self.cap / 2);
    }

    fn take(&mut self) -> Result<Block, Exhausted> {
        if self.outstanding >= self.cap {
            return Err(Exhausted);
        }
        self.outstanding += 1;
        self.peak = self.peak.max(self.outstanding);
        let data = self
            .free
            .pop()
            .unwrap_or_else(|| vec![0; self.block_size].into_boxed_slice());
        Ok(Block {
            data,
            start: 0,
            end: 0,
        })
    }

    fn give(&mut self, block: Block) {
        self.outstanding -= 1;
        if block.data.len() == self.block_size && self.free.len() < MAX_FREE_BLOCKS {
            self.free.push(block.data);
        }
    }

    /// Bytes in one block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Whether body bytes may be read into new blocks (the reserve stays free).
    pub fn can_fill(&self) -> bool {
        self.outstanding + self.reserve < self.cap
    }

    /// Whether a new exchange may start (half the reserve stays for those in flight).
    pub fn can_start(&self) -> bool {
        self.outstanding + self.reserve / 2 < self.cap
    }

    /// Blocks currently owned by chains.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Most blocks owned by chains at once since the pool was made.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Bytes of blocks allocated: in use, and on the free list.
    pub fn allocated_bytes(&self) -> usize {
        (self.outstanding + self.free.len()) * self.block_size
    }

    /// The cap, in bytes.
    pub fn cap_bytes(&self) -> usize {
        self.cap * self.block_size
    }
}

/// A queue of bytes held in blocks, written out in order.
/// Invariant: `len` is the sum of the blocks' unconsumed bytes; no block in the middle of the
/// queue is empty.
#[derive(Debug, Default)]
pub struct Chain {
    blocks: VecDeque<Block>,
    len: usize,
}

impl Chain {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a copy of `bytes` (heads and locally generated responses). At the pool's cap
    /// the bytes that fitted stay appended and `Exhausted` is returned.
    pub fn push_slice(&mut self, pool: &mut BufPool, mut bytes: &[u8]) -> Result<(), Exhausted> {
        while !bytes.is_empty() {
            let tail = self.writable_tail(pool)?;
            let n = tail.spare().len().min(bytes.len());
            tail.spare()[..n].copy_from_slice(&bytes[..n]);
            tail.end += n;
            self.len += n;
            bytes = &bytes[n..];
        }
        self.check_invariants();
        Ok(())
    }

    /// Reads from `src` into the tail of the chain, at most `limit` bytes (0 is not allowed),
    /// with one vectored read into the tail block's spare room and up to `MAX_READ_BLOCKS - 1`
    /// fresh blocks while the pool can fill (fewer system calls per large body, as nginx's
    /// readv into its buffers). Returns the bytes read (the last `n` of the chain) and how many
    /// were asked for; an `OutOfMemory` error when the pool is at its cap.
    pub fn read_from(
        &mut self,
        pool: &mut BufPool,
        src: &mut impl Read,
        limit: usize,
    ) -> io::Result<(usize, usize)> {
        debug_assert!(limit > 0);
        self.writable_tail(pool)
            .map_err(|Exhausted| io::Error::from(io::ErrorKind::OutOfMemory))?;
        let tail_room = self.blocks.back_mut().map_or(0, |b| b.spare().len());
        let mut fresh: [Option<Block>; MAX_READ_BLOCKS - 1] = Default::default();
        let mut offered = tail_room.min(limit);
        for slot in &mut fresh {
            if offered >= limit || !pool.can_fill() {
                break;
            }
            match pool.take() {
                Ok(block) => {
                    offered += (limit - offered).min(block.data.len());
                    *slot = Some(block);
                }
                Err(Exhausted) => break,
            }
        }
        let result = {
            let mut parts: [&mut [u8]; MAX_READ_BLOCKS] = Default::default();
            let mut left = limit;
            let tail = self.blocks.back_mut().expect("ensured above");
            let spare = tail.spare();
            let n = spare.len().min(left);
            parts[0] = &mut spare[..n];
            left -= n;
            let mut count = 1;
            for block in fresh.iter_mut().flatten() {
                let spare = block.spare();
                let n = spare.len().min(left);
                parts[count] = &mut spare[..n];
                left -= n;
                count += 1;
            }
            let mut slices = parts.map(IoSliceMut::new);
            src.read_vectored(&mut slices[..count])
        };
        let read = *result.as_ref().unwrap_or(&0);
        let mut rest = read;
        let tail = self.blocks.back_mut().expect("ensured above");
        let here = rest.min(tail_room);
        tail.end += here;
        rest -= here;
        for mut block in fresh.into_iter().flatten() {
            let here = rest.min(block.data.len());
            if here == 0 {
                pool.give(block);
                continue;
            }
            block.end = here;
            rest -= here;
            self.blocks.push_back(block);
        }
        self.len += read;
        self.drop_empty_tail(pool);
        self.check_invariants();
        result.map(|n| (n, offered))
    }

    /// Calls `f` with the last `n` bytes of the chain in order, a block's worth at a time.
    pub fn for_tail(&self, n: usize, mut f: impl FnMut(&[u8]) -> bool) {
        debug_assert!(n <= self.len);
        let mut start = self.blocks.len();
        let mut covered = 0;
        while covered < n && start > 0 {
            start -= 1;
            covered += self.blocks[start].end - self.blocks[start].start;
        }
        let mut skip = covered - n;
        for block in self.blocks.range(start..) {
            let bytes = &block.bytes()[skip..];
            skip = 0;
            if !f(bytes) {
                return;
            }
        }
    }

    /// Removes the last `n` bytes.
    pub fn truncate_tail(&mut self, pool: &mut BufPool, n: usize) {
        self.truncate(pool, self.len - n);
    }

    /// Removes bytes from the end until `len` remain (undoing a push that did not fit).
    pub fn truncate(&mut self, pool: &mut BufPool, len: usize) {
        while self.len > len {
            let back = self.blocks.back_mut().expect("bytes are in blocks");
            let here = (back.end - back.start).min(self.len - len);
            back.end -= here;
            self.len -= here;
            self.drop_empty_tail(pool);
        }
        self.check_invariants();
    }

    /// Writes as much as `dst` takes with vectored writes; returns the bytes written, stopping
    /// at `WouldBlock` (returned only when nothing was written).
    pub fn write_to(&mut self, pool: &mut BufPool, dst: &mut impl Write) -> io::Result<usize> {
        let mut total = 0;
        while !self.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            for (slot, block) in slices.iter_mut().zip(&self.blocks) {
                *slot = IoSlice::new(block.bytes());
                count += 1;
            }
            let n = match dst.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && total > 0 => break,
                Err(e) => return Err(e),
            };
            self.consume(pool, n);
            total += n;
        }
        Ok(total)
    }

    /// Drops `n` bytes from the front, returning emptied blocks to the pool.
    pub fn consume(&mut self, pool: &mut BufPool, mut n: usize) {
        debug_assert!(n <= self.len);
        self.len -= n;
        while n > 0 {
            let front = self.blocks.front_mut().expect("consume within len");
            let here = (front.end - front.start).min(n);
            front.start += here;
            n -= here;
            if front.start == front.end {
                let block = self.blocks.pop_front().expect("front exists");
                pool.give(block);
            }
        }
        self.check_invariants();
    }

    /// Returns every block to the pool.
    pub fn clear(&mut self, pool: &mut BufPool) {
        for block in self.blocks.drain(..) {
            pool.give(block);
        }
        self.len = 0;
    }

    fn writable_tail(&mut self, pool: &mut BufPool) -> Result<&mut Block, Exhausted> {
        if self.blocks.back_mut().is_none_or(|b| b.spare().is_empty()) {
            self.blocks.push_back(pool.take()?);
        }
        Ok(self.blocks.back_mut().expect("just ensured"))
    }

    fn drop_empty_tail(&mut self, pool: &mut BufPool) {
        if self.blocks.back().is_some_and(|b| b.start == b.end) {
            let block = self.blocks.pop_back().expect("tail exists");
            pool.give(block);
        }
    }

    fn check_invariants(&self) {
        #[cfg(debug_assertions)]
        {
            let sum: usize = self.blocks.iter().map(|b| b.end - b.start).sum();
            assert_eq!(sum, self.len, "chain length");
            for b in &self.blocks {
                assert!(b.start <= b.end && b.end <= b.data.len(), "block bounds");
            }
            let n = self.blocks.len();
            for (i, b) in self.blocks.iter().enumerate() {
                assert!(i + 1 == n || b.start < b.end, "empty block inside chain");
            }
        }
    }
}

/// The part of a response that did not fit in memory: an unlinked temporary file written at
/// the end and sent from `sent` on. Invariant: `sent <= written`.
#[derive(Debug)]
pub struct Spill {
    file: std::fs::File,
    written: u64,
    sent: u64,
}

impl Spill {
    /// A new, empty spill file in `dir`.
    pub fn create(dir: &std::path::Path) -> io::Result<Spill> {
        Ok(Spill {
            file: crate::sys::temp_file(dir)?,
            written: 0,
            sent: 0,
        })
    }

    /// The `len` bytes of `file` from `start` on, to be sent as if spilled there (a cached
    /// response's body).
    pub fn from_part(file: std::fs::File, start: u64, len: u64) -> Spill {
        Spill {
            file,
            written: start + len,
            sent: start,
        }
    }

    /// Appends `bytes` (a blocking write; the page cache usually absorbs it, as nginx's
    /// proxy_temp writes).
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.write_all_at(bytes, self.written)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Bytes ever written.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Bytes written and not yet sent.
    pub fn pending(&self) -> u64 {
        self.written - self.sent
    }

    /// Copies pending bytes into `buf` without marking them sent (for a TLS connection, which
    /// seals them before they go out); `Ok(0)` only when none are pending or `buf` is empty.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let want = buf
            .len()
            .min(usize::try_from(self.pending()).unwrap_or(usize::MAX));
        loop {
            match self.file.read_at(&mut buf[..want], self.sent) {
                Ok(0) if want > 0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// Writes pending bytes to `dst` through `scratch` (for a TLS peer, which seals them in
    /// user space), at most `SEND_BUDGET` pieces; returns the bytes taken (`WouldBlock` only
    /// when none were).
    pub fn copy_to(&mut self, dst: &mut impl Write, scratch: &mut [u8]) -> io::Result<usize> {
        let mut total = 0;
        for _ in 0..SEND_BUDGET {
            if self.pending() == 0 {
                break;
            }
            let n = self.peek(scratch)?;
            match dst.write(&scratch[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(took) => {
                    self.advance(took);
                    total += took;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && total > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// Marks `n` pending bytes sent. Invariant kept: at most [`Spill::pending`].
    pub fn advance(&mut self, n: usize) {
        assert!(n as u64 <= self.pending(), "advance past what was written");
        self.sent += n as u64;
    }

    /// Sends what is pending to the socket `out` until it would block, at most
    /// `SEND_BUDGET` calls (a fast client must not keep the reactor to itself); returns the
    /// bytes sent (`WouldBlock` only when none were).
    pub fn send_to(&mut self, out: std::os::fd::RawFd) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let mut total = 0;
        for _ in 0..SEND_BUDGET {
            if self.pending() == 0 {
                break;
            }
            let count = usize::try_from(self.pending()).unwrap_or(usize::MAX);
            match crate::sys::sendfile(out, self.file.as_raw_fd(), &mut self.sent, count) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && total > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
}

/// Most `sendfile` calls one `Spill::send_to` makes.
const SEND_BUDGET: usize = 16;

/// A pipe a body is spliced through: backend socket → pipe → client socket.
/// Invariant: `held` bytes are in the pipe, at most `cap`.
#[derive(Debug)]
pub struct Pipe {
    read: std::os::fd::OwnedFd,
    write: std::os::fd::OwnedFd,
    cap: usize,
    held: usize,
}

impl Pipe {
    /// Bytes in the pipe.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Bytes the pipe can take now.
    pub fn room(&self) -> usize {
        self.cap - self.held
    }

    /// Splices up to `len` bytes (at most the room) from the socket `from` into the pipe.
    /// Returns the bytes moved and how many were asked for (0 moved: end of stream).
    pub fn fill_from(
        &mut self,
        from: std::os::fd::RawFd,
        len: usize,
    ) -> io::Result<(usize, usize)> {
        use std::os::fd::AsRawFd;
        let asked = len.min(self.room());
        let n = crate::sys::splice(from, self.write.as_raw_fd(), asked)?;
        self.held += n;
        Ok((n, asked))
    }

    /// Splices what the pipe holds to the socket `to` until it would block; returns the bytes
    /// moved (`WouldBlock` only when none were).
    pub fn drain_to(&mut self, to: std::os::fd::RawFd) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let mut total = 0;
        while self.held > 0 {
            match crate::sys::splice(self.read.as_raw_fd(), to, self.held) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.held -= n;
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && total > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
}

/// The reactor's pipes: empty ones kept for reuse, and a bound on how many are in use.
#[derive(Debug, Default)]
pub struct PipePool {
    free: Vec<Pipe>,
    /// Capacity asked for each new pipe.
    size: usize,
    in_use: usize,
    /// Most pipes in use at once.
    max_in_use: usize,
    /// What the kernel granted the first pipe (it rounds sizes to pages, powers of two).
    granted: Option<usize>,
}

impl PipePool {
    /// Pipes of `size` bytes (as far as the kernel allows), at most `budget` bytes of them in use.
    pub fn configure(&mut self, size: usize, budget: usize) {
        let size = size.max(1);
        if size != self.size {
            self.free.clear();
            self.granted = None;
        }
        self.size = size;
        self.max_in_use = budget / size;
        if self.max_in_use == 0 {
            // Splicing is off: nothing will take these.
            self.free.clear();
        }
    }

    /// The capacity of this pool's pipes: what the kernel granted the first one, or what is
    /// asked before any was made.
    pub fn capacity(&self) -> usize {
        self.granted.unwrap_or(self.size)
    }

    /// A pipe, unless the budget is spent or the kernel refuses one.
    pub fn take(&mut self) -> Option<Pipe> {
        if self.in_use >= self.max_in_use {
            return None;
        }
        let pipe = match self.free.pop() {
            Some(p) => p,
            None => {
                let (read, write, cap) = crate::sys::splice_pipe(self.size).ok()?;
                let granted = *self.granted.get_or_insert(cap);
                if cap < granted {
                    // Past the per-user pipe quota the kernel hands out tiny pipes: blocks
                    // do better.
                    return None;
                }
                Pipe {
                    read,
                    write,
                    cap,
                    held: 0,
                }
            }
        };
        self.in_use += 1;
        Some(pipe)
    }

    /// Returns a pipe: kept if empty, closed otherwise (its bytes are of no use to anyone).
    pub fn give(&mut self, pipe: Pipe) {
        self.in_use -= 1;
        if pipe.held == 0 && Some(pipe.cap) == self.granted && self.free.len() < MAX_FREE_PIPES {
            self.free.push(pipe);
        }
    }
}

/// Most empty pipes kept for reuse per reactor.
const MAX_FREE_PIPES: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: usize = 16 * 1024;

    fn tail(chain: &Chain, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        chain.for_tail(n, |bytes| {
            out.extend_from_slice(bytes);
            true
        });
        out
    }

    /// A writer that accepts at most `cap` bytes per call and then `WouldBlock`s once full.
    struct Trickle {
        out: Vec<u8>,
        cap: usize,
        room: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.cap).min(self.room);
            self.out.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn chain_writes_what_was_pushed_in_order_across_blocks() {
        let mut pool = BufPool::new(BLOCK, 64 * BLOCK);
        let mut chain = Chain::default();
        let data: Vec<u8> = (0..3 * BLOCK + 17).map(|i| (i % 251) as u8).collect();
        chain.push_slice(&mut pool, &data[..100]).unwrap();
        chain.push_slice(&mut pool, &data[100..]).unwrap();
        assert_eq!(chain.len(), data.len());
        let mut w = Trickle {
            out: Vec::new(),
            cap: 1000,
            room: usize::MAX,
        };
        chain.write_to(&mut pool, &mut w).unwrap();
        assert_eq!(w.out, data);
        assert!(chain.is_empty());
        assert_eq!(pool.outstanding(), 0, "an empty chain holds no block");
    }

    #[test]
    fn chain_stops_at_would_block_and_resumes() {
        let mut pool = BufPool::new(BLOCK, 64 * BLOCK);
        let mut chain = Chain::default();
        chain.push_slice(&mut pool, b"hello world").unwrap();
        let mut w = Trickle {
            out: Vec::new(),
            cap: 3,
            room: 5,
        };
        assert_eq!(chain.write_to(&mut pool, &mut w).unwrap(), 5);
        assert_eq!(chain.len(), 6);
        w.room = 100;
        chain.write_to(&mut pool, &mut w).unwrap();
        assert_eq!(w.out, b"hello world");
    }

    #[test]
    fn read_from_appends_and_truncate_tail_removes() {
        let mut pool = BufPool::new(BLOCK, 64 * BLOCK);
        let mut chain = Chain::default();
        let mut src: &[u8] = b"abcdef";
        let (n, asked) = chain.read_from(&mut pool, &mut src, 4).unwrap();
        assert_eq!((n, asked), (4, 4));
        assert_eq!(tail(&chain, 4), b"abcd");
        chain.truncate_tail(&mut pool, 2);
        assert_eq!(chain.len(), 2);
        let (n, asked) = chain.read_from(&mut pool, &mut src, 100).unwrap();
        assert_eq!((n, asked), (2, 100));
        assert_eq!(tail(&chain, 4), b"abef");
        chain.clear(&mut pool);
        assert_eq!(pool.outstanding(), 0);
    }

    #[test]
    fn read_of_nothing_leaves_no_block_behind() {
        let mut pool = BufPool::new(BLOCK, 64 * BLOCK);
        let mut chain = Chain::default();
        let mut src: &[u8] = b"";
        assert_eq!(chain.read_from(&mut pool, &mut src, 10).unwrap(), (0, 10));
        assert_eq!(pool.outstanding(), 0);
    }

    #[test]
    fn the_cap_is_never_exceeded_and_the_reserve_is_kept_from_bodies() {
        const B: usize = 16 * 1024;
        let mut pool = BufPool::new(B, 32 * B);
        let mut chain = Chain::default();
        assert!(pool.can_fill() && pool.can_start());
        let mut src = std::io::repeat(7);
        while pool.can_fill() {
            chain.read_from(&mut pool, &mut src, B).unwrap();
        }
        assert_eq!(
            pool.outstanding(),
            24,
            "a reserve of 128 KiB (8 blocks) is left"
        );
        assert!(
            pool.can_start(),
            "new exchanges may still use half the reserve"
        );
        assert_eq!(chain.push_slice(&mut pool, &vec![1; 8 * B]), Ok(()));
        let before = chain.len();
        assert_eq!(chain.push_slice(&mut pool, &[1; 1]), Err(Exhausted));
        assert_eq!(chain.len(), before);
        let err = chain.read_from(&mut pool, &mut src, B).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory);
        assert_eq!((pool.outstanding(), pool.peak()), (32, 32));
        chain.truncate(&mut pool, before - 3 * B - 5);
        assert_eq!(
            pool.outstanding(),
            29,
            "a push that did not fit can be undone"
        );
        chain.clear(&mut pool);
        assert_eq!(pool.outstanding(), 0);
        assert_eq!(
            pool.allocated_bytes(),
            32 * B,
            "returned blocks are kept for reuse"
        );
    }

    #[test]
    fn a_reload_to_another_block_size_frees_the_old_blocks() {
        let mut pool = BufPool::new(1024, 64 * 1024);
        let mut chain = Chain::default();
        chain.push_slice(&mut pool, &[0; 3000]).unwrap();
        pool.configure(2048, 64 * 1024);
        chain.clear(&mut pool);
        assert_eq!(pool.allocated_bytes(), 0);
        chain.push_slice(&mut pool, &[0; 3000]).unwrap();
        assert_eq!(pool.outstanding(), 2);
        chain.clear(&mut pool);
    }

    #[test]
    fn a_spill_sends_what_was_appended_in_order() {
        use std::os::fd::AsRawFd;
        let mut spill = Spill::create(&std::env::temp_dir()).unwrap();
        let data: Vec<u8> = (0..300_000).map(|i| (i % 253) as u8).collect();
        spill.append(&data[..1000]).unwrap();
        spill.append(&data[1000..]).unwrap();
        assert_eq!((spill.written(), spill.pending()), (300_000, 300_000));
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            b.read_to_end(&mut got).unwrap();
            got
        });
        while spill.pending() > 0 {
            spill.send_to(a.as_raw_fd()).unwrap();
        }
        a.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(reader.join().unwrap(), data);
    }

    #[test]
    fn a_pipe_moves_bytes_between_sockets_and_the_pool_bounds_pipes() {
        use std::os::fd::AsRawFd;
        let mut pipes = PipePool::default();
        pipes.configure(64 * 1024, 128 * 1024);
        let mut pipe = pipes.take().unwrap();
        let second = pipes.take().unwrap();
        assert!(
            pipes.take().is_none(),
            "two 64 KiB pipes spend the 128 KiB budget"
        );
        pipes.give(second);
        let (mut src, from) = std::os::unix::net::UnixStream::pair().unwrap();
        let (to, mut dst) = std::os::unix::net::UnixStream::pair().unwrap();
        src.write_all(b"spliced bytes").unwrap();
        let (n, asked) = pipe.fill_from(from.as_raw_fd(), 100).unwrap();
        assert_eq!((n, asked, pipe.held()), (13, 100, 13));
        assert_eq!(pipe.drain_to(to.as_raw_fd()).unwrap(), 13);
        let mut got = [0; 13];
        dst.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"spliced bytes");
        drop(src);
        assert_eq!(
            pipe.fill_from(from.as_raw_fd(), 100).unwrap().0,
            0,
            "end of stream"
        );
        pipes.give(pipe);
        assert!(pipes.take().is_some());
    }

    #[test]
    fn one_read_fills_several_blocks_and_the_tail_spans_them() {
        const B: usize = 1024;
        let mut pool = BufPool::new(B, 1024 * B);
        let mut chain = Chain::default();
        chain.push_slice(&mut pool, &[b'h'; 1000]).unwrap();
        let data: Vec<u8> = (0..10_000).map(|i| (i % 251) as u8).collect();
        let mut src: &[u8] = &data;
        let (n, asked) = chain.read_from(&mut pool, &mut src, 4 * B).unwrap();
        assert_eq!(
            (n, asked),
            (24 + 3 * B, 24 + 3 * B),
            "the tail's spare and 3 fresh blocks"
        );
        assert_eq!(pool.outstanding(), 4);
        assert_eq!(tail(&chain, n), &data[..n]);
        chain.truncate_tail(&mut pool, 2000);
        assert_eq!(chain.len(), 1000 + n - 2000);
        assert_eq!(tail(&chain, n - 2000), &data[..n - 2000]);
        let mut short: &[u8] = b"xyz";
        let (n, _) = chain.read_from(&mut pool, &mut short, 4 * B).unwrap();
        assert_eq!(n, 3);
        assert_eq!(pool.outstanding(), 3, "unused fresh blocks go back");
        chain.clear(&mut pool);
        assert_eq!(pool.outstanding(), 0);
    }
}
