//! Question: what does validating a chunked body cost per byte, when it arrives in reads of
//! one 16 KiB block, for bodies of 1 MiB in chunks of 64 B, 4 KiB and 64 KiB?
//!
//! Decision it informs: spoonfeed passes chunked bodies through unchanged but runs every byte
//! through `ChunkedDecoder` (the framing must be checked before it is trusted). If that runs at
//! several GB/s even for tiny chunks, the pass-through path needs no faster framing scanner;
//! if small chunks collapse it, the decoder's per-chunk state changes are the place to look.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spoonfeed::http1::chunked::ChunkedDecoder;

/// The body's payload bytes.
const BODY: usize = 1 << 20;

/// The size of the reads the decoder sees (one block).
const READ: usize = 16 * 1024;

/// A chunked encoding of `BODY` bytes in chunks of `chunk` bytes, with the last chunk.
fn encode(chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(BODY + BODY / chunk * 8 + 5);
    let mut left = BODY;
    while left > 0 {
        let n = left.min(chunk);
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend(std::iter::repeat_n(b'x', n));
        out.extend_from_slice(b"\r\n");
        left -= n;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Runs `wire` through a fresh decoder in `READ`-byte pieces; returns the payload bytes seen.
fn validate(wire: &[u8]) -> usize {
    let mut dec = ChunkedDecoder::default();
    let mut payload = 0;
    for piece in wire.chunks(READ) {
        let mut used = 0;
        while used < piece.len() && !dec.is_done() {
            let d = dec.decode(&piece[used..]).expect("valid framing");
            if let Some(data) = d.data {
                payload += data.end - data.start;
            }
            if d.consumed == 0 {
                break;
            }
            used += d.consumed;
        }
    }
    assert!(dec.is_done());
    payload
}

fn chunked(c: &mut Criterion) {
    let mut group = c.benchmark_group("chunked/validate_1MiB");
    group.throughput(Throughput::Bytes(BODY as u64));
    for chunk in [64, 4096, 65536] {
        let wire = encode(chunk);
        assert_eq!(
            validate(&wire),
            BODY,
            "the fixture decodes to the whole body"
        );
        group.bench_with_input(BenchmarkId::from_parameter(chunk), &wire, |b, wire| {
            b.iter(|| validate(black_box(wire)))
        });
    }
    group.finish();
}

criterion_group!(benches, chunked);
criterion_main!(benches);
