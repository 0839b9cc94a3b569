//! What does a block cost on the hot path, at `ProxyIOBufferSize` 4 KiB to 64 KiB: taking one
//! from the pool and giving it back, and moving a 1 MiB body through a chain (read into
//! blocks, written out with `writev`-style vectored writes)?
//!
//! Every response takes at least one block and returns it, so checkout/return must be a few
//! nanoseconds (a free-list pop and push, no allocation once warm). The fill/drain case tells
//! which block size moves bytes cheapest in user space; the kernel's side (one `read` per block,
//! one `writev` per 64 blocks) is what the load tools in `tools/` measure. A block size is only
//! worth its memory if this curve says so.

use std::hint::black_box;
use std::io::{self, IoSlice, Read, Write};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spoonfeed::buf::{BufPool, Chain};

/// Block sizes measured.
const BLOCK_SIZES: [usize; 5] = [4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10];

/// The body moved in the fill/drain case.
const BODY: usize = 1 << 20;

/// A source that hands out as many bytes as asked, like a socket with data waiting.
struct Source(u8);

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        buf.fill(self.0);
        Ok(buf.len())
    }
}

/// A sink that accepts everything, touching each slice once, like a socket with room.
struct Sink(u64);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.wrapping_add(u64::from(buf[0]));
        Ok(buf.len())
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            n += self.write(b)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn checkout_return(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool/checkout_return");
    for size in BLOCK_SIZES {
        let mut pool = BufPool::new(size, 1024 * size);
        let mut chain = Chain::default();
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| {
                chain
                    .push_slice(&mut pool, black_box(b"HTTP/1.1 200 OK\r\n\r\n"))
                    .unwrap();
                chain.clear(&mut pool);
            })
        });
        assert_eq!(pool.outstanding(), 0);
    }
    group.finish();
}

fn fill_drain(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool/fill_drain_1MiB");
    group.throughput(Throughput::Bytes(BODY as u64));
    for size in BLOCK_SIZES {
        let mut pool = BufPool::new(size, 2 * BODY + size);
        let mut chain = Chain::default();
        let mut src = Source(7);
        let mut sink = Sink(0);
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| {
                while chain.len() < BODY {
                    chain.read_from(&mut pool, &mut src, size).unwrap();
                }
                chain.write_to(&mut pool, &mut sink).unwrap();
            })
        });
        assert!(chain.is_empty() && sink.0 > 0);
    }
    group.finish();
}

criterion_group!(benches, checkout_return, fill_drain);
criterion_main!(benches);
