//! gzip on several cores, pigz-style, with output that does not depend on the thread count.
//!
//! The input is cut into fixed 1 MiB blocks (by position in the stream, never by timing).
//! Each block is deflated on its own thread, primed with the last 32 KiB of the previous
//! block as dictionary so matches still reach back across the cut, and ends with a sync
//! flush so the pieces concatenate into one deflate stream; an empty final block closes
//! it. The gzip header is Go's (mtime 0, OS unknown) and the trailer's CRC-32 is combined
//! from the per-block CRCs. The result is one ordinary gzip member, identical for one
//! thread or eight, and within a fraction of a percent of single-stream size.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Crc, FlushCompress, Status};

/// Size of the independently compressed blocks.
const BLOCK: usize = 1 << 20;
const DICTIONARY: usize = 32 << 10;

struct Job {
    index: u64,
    dictionary: Vec<u8>,
    data: Vec<u8>,
}

struct Done {
    index: u64,
    deflated: Vec<u8>,
    crc: Crc,
}

/// Compresses the chunks received on `chunks` (cut into [`BLOCK`]-sized blocks) into `out`
/// as one gzip member, using `threads` compressing threads.
pub(crate) fn compress(
    chunks: &Receiver<Vec<u8>>,
    out: &mut impl Write,
    level: u32,
    threads: usize,
) -> io::Result<()> {
    compress_in_blocks(chunks, out, level, threads, BLOCK)
}

/// [`compress`] with another block size (tests use small ones).
fn compress_in_blocks(
    chunks: &Receiver<Vec<u8>>,
    out: &mut impl Write,
    level: u32,
    threads: usize,
    block_size: usize,
) -> io::Result<()> {
    out.write_all(&header(level))?;
    let threads = threads.max(1);
    let (job_tx, job_rx) = sync_channel::<Job>(threads);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = sync_channel::<io::Result<Done>>(threads * 2);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                loop {
                    // Hold the lock only to take a job.
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    if done_tx.send(deflate_block(job, level)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let result = feed_and_collect(chunks, job_tx, &done_rx, out, block_size);
        // Dropping the receiver lets blocked workers finish if we stopped early.
        drop(done_rx);
        result
    })?;
    Ok(())
}

/// Cuts the input into blocks, hands them to the workers and writes results in order.
fn feed_and_collect(
    chunks: &Receiver<Vec<u8>>,
    jobs: SyncSender<Job>,
    done: &Receiver<io::Result<Done>>,
    out: &mut impl Write,
    block_size: usize,
) -> io::Result<()> {
    let mut order = InOrder {
        out,
        pending: BTreeMap::new(),
        next: 0,
        crc: Crc::new(),
    };
    let mut sent = 0u64;
    let mut block = Vec::with_capacity(block_size);
    let mut dictionary: Vec<u8> = Vec::new();
    let mut dispatch = |block: Vec<u8>, order: &mut InOrder<'_, _>| -> io::Result<()> {
        let tail = block.len().saturating_sub(DICTIONARY);
        let next_dictionary = block[tail..].to_vec();
        let mut job = Job {
            index: sent,
            dictionary: std::mem::replace(&mut dictionary, next_dictionary),
            data: block,
        };
        sent += 1;
        // While every worker is busy, take in finished blocks to make room.
        loop {
            match jobs.try_send(job) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(back)) => {
                    order.accept(done.recv().map_err(|_| worker_gone())??)?;
                    job = back;
                }
                Err(TrySendError::Disconnected(_)) => return Err(worker_gone()),
            }
        }
    };
    for chunk in chunks.iter() {
        let mut data = &chunk[..];
        while !data.is_empty() {
            let take = (block_size - block.len()).min(data.len());
            block.extend_from_slice(&data[..take]);
            data = &data[take..];
            if block.len() == block_size {
                dispatch(
                    std::mem::replace(&mut block, Vec::with_capacity(block_size)),
                    &mut order,
                )?;
            }
        }
    }
    if !block.is_empty() {
        dispatch(block, &mut order)?;
    }
    drop(jobs);
    while order.next < sent {
        order.accept(done.recv().map_err(|_| worker_gone())??)?;
    }
    let crc = order.crc;
    // An empty final block (fixed Huffman, end of block) closes the deflate stream.
    order.out.write_all(&[0x03, 0x00])?;
    order.out.write_all(&crc.sum().to_le_bytes())?;
    order.out.write_all(&crc.amount().to_le_bytes())?;
    Ok(())
}

/// Writes finished blocks in stream order and folds their CRCs together.
struct InOrder<'w, W: Write> {
    out: &'w mut W,
    pending: BTreeMap<u64, Done>,
    next: u64,
    crc: Crc,
}

impl<W: Write> InOrder<'_, W> {
    fn accept(&mut self, done: Done) -> io::Result<()> {
        self.pending.insert(done.index, done);
        while let Some(ready) = self.pending.remove(&self.next) {
            self.out.write_all(&ready.deflated)?;
            self.crc.combine(&ready.crc);
            self.next += 1;
        }
        Ok(())
    }
}

fn worker_gone() -> io::Error {
    io::Error::other("a gzip worker thread stopped")
}

/// Deflates one block, primed with the previous block's tail, ending on a sync flush.
fn deflate_block(job: Job, level: u32) -> io::Result<Done> {
    let mut deflate = Compress::new(flate2::Compression::new(level), false);
    if !job.dictionary.is_empty() {
        deflate
            .set_dictionary(&job.dictionary)
            .map_err(io::Error::other)?;
    }
    let mut out = Vec::with_capacity(job.data.len() / 2 + 1024);
    loop {
        let consumed = deflate.total_in() as usize;
        if out.capacity() - out.len() < 64 * 1024 {
            out.reserve(256 * 1024);
        }
        let status = deflate
            .compress_vec(&job.data[consumed..], &mut out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        let done_input = deflate.total_in() as usize == job.data.len();
        // A sync flush is complete once all input is in and there was room to spare.
        if done_input && out.capacity() > out.len() && status != Status::BufError {
            break;
        }
    }
    let mut crc = Crc::new();
    crc.update(&job.data);
    Ok(Done {
        index: job.index,
        deflated: out,
        crc,
    })
}

/// Go's gzip header: no name, mtime 0, XFL from the level, OS "unknown".
fn header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 0xff]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Small blocks keep the debug-build tests quick; the logic is the same.
    const TEST_BLOCK: usize = 64 << 10;

    fn run(data: &[u8], threads: usize, chunk: usize) -> Vec<u8> {
        let (tx, rx) = sync_channel::<Vec<u8>>(4);
        let owned = data.to_vec();
        let feeder = std::thread::spawn(move || {
            for piece in owned.chunks(chunk.max(1)) {
                tx.send(piece.to_vec()).unwrap();
            }
        });
        let mut out = Vec::new();
        compress_in_blocks(&rx, &mut out, 6, threads, TEST_BLOCK).unwrap();
        feeder.join().unwrap();
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        let mut x = 12345u64;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 3000 < 2000 {
                    b"tar layer "[i % 10]
                } else {
                    x as u8
                }
            })
            .collect()
    }

    #[test]
    fn output_is_valid_gzip_and_independent_of_threads_and_chunking() {
        for len in [
            0,
            1,
            100,
            TEST_BLOCK - 1,
            TEST_BLOCK,
            TEST_BLOCK + 1,
            5 * TEST_BLOCK + 12345,
        ] {
            let data = sample(len);
            let one = run(&data, 1, 4096);
            let many = run(&data, 3, TEST_BLOCK / 3 + 7);
            assert_eq!(one, many, "len {len}");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&one[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "len {len}");
            // GNU gzip agrees too (it checks CRC and length).
            let mut back = Vec::new();
            flate2::read::MultiGzDecoder::new(&one[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back.len(), data.len());
        }
    }

    #[test]
    fn header_matches_go() {
        let out = run(b"x", 1, 1);
        // magic, deflate, no flags, mtime 0, xfl 0 (level 6), OS unknown.
        assert_eq!(&out[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        assert_eq!(header(9)[8], 2);
        assert_eq!(header(1)[8], 4);
    }

    #[test]
    fn dictionary_priming_keeps_the_ratio() {
        let data = sample(8 * TEST_BLOCK);
        let parallel = run(&data, 2, TEST_BLOCK);
        let mut single = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        single.write_all(&data).unwrap();
        let single = single.finish().unwrap();
        let overhead = parallel.len() as f64 / single.len() as f64;
        assert!(
            overhead < 1.01,
            "parallel gzip is {overhead:.4}× the single stream"
        );
    }
}
