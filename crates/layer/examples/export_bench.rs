//! Measures `export_layer` (and `apply_layer`) throughput on a generated ~200 MB tree of
//! mixed content. With a directory argument the tree is taken from there, or generated
//! there first when the directory does not exist yet (to keep it between runs).
//!
//! `cargo run --release -p hearth-layer --example export_bench [DIR]`

use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

use hearth_layer::{ApplyOptions, Compression, DiffOptions, apply_layer, export_layer};

/// A small deterministic generator, so every run measures the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const WORDS: &[&str] = &[
    "fn", "let", "mut", "return", "struct", "impl", "match", "if", "else", "for", "while", "self",
    "config", "value", "error", "result", "buffer", "layer", "digest", "path", "name", "0", "1",
    "{", "}", "(", ")", ";", "=", "==", "->", "\n", "    ", "::", "&", ".",
];

/// Text-like (compressible), random (incompressible) and repetitive files: ~200 MB.
fn generate(root: &Path) -> io::Result<u64> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut total = 0u64;
    for i in 0..20_000u64 {
        let dir = root.join(format!("src/mod{}/sub{}", i % 50, i % 7));
        std::fs::create_dir_all(&dir)?;
        let size = 512 + (rng.next() % 7_600) as usize;
        let mut text = String::with_capacity(size + 16);
        while text.len() < size {
            text.push_str(WORDS[(rng.next() % WORDS.len() as u64) as usize]);
            text.push(' ');
        }
        std::fs::write(dir.join(format!("file{i}.rs")), &text)?;
        total += text.len() as u64;
    }
    std::fs::create_dir_all(root.join("lib"))?;
    for i in 0..40 {
        let data: Vec<u8> = (0..(1 << 20) / 8)
            .flat_map(|_| rng.next().to_le_bytes())
            .collect();
        std::fs::write(root.join(format!("lib/lib{i}.so")), &data)?;
        total += data.len() as u64;
    }
    std::fs::create_dir_all(root.join("data"))?;
    for i in 0..10 {
        let data: Vec<u8> = (0..8 << 20)
            .map(|j: u32| {
                if j % 4096 < 512 {
                    (rng.next() & 0xff) as u8
                } else {
                    (j % 97) as u8
                }
            })
            .collect();
        std::fs::write(root.join(format!("data/blob{i}.bin")), &data)?;
        total += data.len() as u64;
    }
    Ok(total)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut out = io::stdout().lock();
    let generated;
    let tree = match std::env::args_os().nth(1) {
        Some(dir) if Path::new(&dir).exists() => std::path::PathBuf::from(dir),
        Some(dir) => {
            let bytes = generate(Path::new(&dir))?;
            writeln!(out, "generated {:.1} MB of files", bytes as f64 / 1e6)?;
            std::path::PathBuf::from(dir)
        }
        None => {
            generated = tempfile::tempdir()?;
            let bytes = generate(generated.path())?;
            writeln!(out, "generated {:.1} MB of files", bytes as f64 / 1e6)?;
            generated.path().to_path_buf()
        }
    };
    let options = DiffOptions::default();
    let mut plain = Vec::new();
    for (compression, label) in [
        (Compression::Uncompressed, "tar only"),
        (Compression::Gzip, "gzip (6)"),
        (Compression::Zstd, "zstd (3)"),
    ] {
        let start = Instant::now();
        let layer = if compression == Compression::Uncompressed {
            // Kept for the apply measurement below.
            export_layer(&tree, compression, None, &mut plain, &options)?
        } else {
            export_layer(&tree, compression, None, io::sink(), &options)?
        };
        let secs = start.elapsed().as_secs_f64();
        writeln!(
            out,
            "{label:9} {:7.1} MB/s  ({:.1} MB tar -> {:.1} MB in {secs:.2}s)",
            layer.uncompressed_size as f64 / 1e6 / secs,
            layer.uncompressed_size as f64 / 1e6,
            layer.size as f64 / 1e6,
        )?;
    }
    let dest = tempfile::tempdir()?;
    let start = Instant::now();
    apply_layer(&plain[..], dest.path(), &ApplyOptions::default())?;
    let secs = start.elapsed().as_secs_f64();
    writeln!(
        out,
        "apply     {:7.1} MB/s  (uncompressed tar onto disk)",
        plain.len() as f64 / 1e6 / secs
    )?;
    Ok(())
}
