//! An on-disk cache of prompt embeddings, so that a dataset is embedded once per encoder.
//!
//! One append-only file per encoder and token budget:
//! `<root>/<fingerprint>-t<max_tokens>.bin` (default root [`DEFAULT_CACHE_DIR`]). The file
//! starts with a header (magic, the full fingerprint, `max_tokens`, the dimension) and holds
//! records of `sha256(text)` (32 bytes) followed by `dim` little-endian `f32`s. The key thus
//! covers encoder weights, truncation budget and text; a file whose header names another
//! encoder is rejected, never read, so vectors from different encoders cannot mix. A record cut
//! short by a crash is ignored (and overwritten by the next append).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use router_core::Embedder;
use sha2::{Digest, Sha256};

use crate::progress::report;
use crate::{Error, Progress, ProgressFn};

/// Where the CLI keeps embedding caches, relative to the working directory (git-ignored).
pub const DEFAULT_CACHE_DIR: &str = ".switchyard/cache/embeddings";
/// Texts per encoder call.
pub const EMBED_BATCH: usize = 32;

const MAGIC: &[u8; 8] = b"SWEMB\x00\x01\x00";
const FINGERPRINT_BYTES: usize = 64;
const HEADER_BYTES: usize = MAGIC.len() + FINGERPRINT_BYTES + 4 + 4;
const KEY_BYTES: usize = 32;

/// Embeddings of one encoder at one token budget, keyed by the SHA-256 of the text.
#[derive(Debug)]
pub struct EmbedCache {
    path: PathBuf,
    fingerprint: String,
    dim: usize,
    vectors: HashMap<[u8; KEY_BYTES], Vec<f32>>,
}

impl EmbedCache {
    /// Opens (or creates) the cache file for `fingerprint` and `max_tokens` under `root`,
    /// loading every complete record.
    pub fn open(
        root: &Path,
        fingerprint: &str,
        max_tokens: usize,
        dim: usize,
    ) -> Result<Self, Error> {
        let invalid = |path: &Path, reason: String| Error::EmbedCache {
            path: path.to_owned(),
            reason,
        };
        if fingerprint.is_empty()
            || fingerprint.len() > FINGERPRINT_BYTES
            || !fingerprint.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(invalid(
                root,
                format!(
                    "encoder fingerprint {fingerprint:?} must be 1 to 64 ASCII letters or digits"
                ),
            ));
        }
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        let path = root.join(format!("{fingerprint}-t{max_tokens}.bin"));
        let header = header(fingerprint, max_tokens, dim);
        let mut vectors = HashMap::new();
        if !path.exists() {
            std::fs::write(&path, &header).map_err(io_err(&path))?;
        } else {
            let mut bytes = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(io_err(&path))?;
            if bytes.len() < HEADER_BYTES || bytes[..HEADER_BYTES] != header[..] {
                return Err(invalid(
                    &path,
                    format!(
                        "header does not match encoder {fingerprint} at max_tokens {max_tokens}, dim {dim}; delete the file to rebuild it"
                    ),
                ));
            }
            let record = KEY_BYTES + 4 * dim;
            let complete = (bytes.len() - HEADER_BYTES) / record;
            for rec in bytes[HEADER_BYTES..].chunks_exact(record) {
                let mut key = [0u8; KEY_BYTES];
                key.copy_from_slice(&rec[..KEY_BYTES]);
                let v = rec[KEY_BYTES..]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                vectors.insert(key, v);
            }
            let end = (HEADER_BYTES + complete * record) as u64;
            if end != bytes.len() as u64 {
                // A torn last record: cut it so that appends stay aligned.
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                f.set_len(end).map_err(io_err(&path))?;
            }
        }
        Ok(Self {
            path,
            fingerprint: fingerprint.to_owned(),
            dim,
            vectors,
        })
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of cached vectors.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// The cached vector of `text`, if any.
    pub fn get(&self, text: &str) -> Option<&[f32]> {
        self.vectors.get(&key(text)).map(Vec::as_slice)
    }

    /// Appends vectors for `texts` (same order) to memory and disk.
    pub fn insert(&mut self, texts: &[&str], vectors: &[Vec<f32>]) -> Result<(), Error> {
        let file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io_err(&self.path))?;
        let mut out = BufWriter::new(file);
        for (text, v) in texts.iter().zip(vectors) {
            if v.len() != self.dim {
                return Err(Error::EmbedCache {
                    path: self.path.clone(),
                    reason: format!(
                        "vector of length {} for a cache of dimension {}",
                        v.len(),
                        self.dim
                    ),
                });
            }
            let k = key(text);
            if self.vectors.contains_key(&k) {
                continue;
            }
            out.write_all(&k).map_err(io_err(&self.path))?;
            for x in v {
                out.write_all(&x.to_le_bytes())
                    .map_err(io_err(&self.path))?;
            }
            self.vectors.insert(k, v.clone());
        }
        out.flush().map_err(io_err(&self.path))
    }

    /// Embeds `texts` with `embedder`, `EMBED_BATCH` at a time, computing only the texts not yet
    /// cached and appending each batch as it is done (an interrupted run keeps its progress).
    /// Progress counts texts; `done` starts at the number already cached.
    pub fn embed_all(
        &mut self,
        embedder: &dyn Embedder,
        texts: &[&str],
        mut progress: ProgressFn<'_>,
    ) -> Result<Vec<Vec<f32>>, Error> {
        if embedder.fingerprint() != self.fingerprint || embedder.dim() != self.dim {
            return Err(Error::EmbedCache {
                path: self.path.clone(),
                reason: format!(
                    "cache is for encoder {} (dim {}), the embedder is {} (dim {})",
                    self.fingerprint,
                    self.dim,
                    embedder.fingerprint(),
                    embedder.dim()
                ),
            });
        }
        let mut missing: Vec<&str> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for t in texts {
            if self.get(t).is_none() && seen.insert(key(t)) {
                missing.push(t);
            }
        }
        // Similar lengths per batch: the encoder pads every text to the batch's longest.
        missing.sort_by_key(|t| t.len());
        let total = texts.len() as u64;
        let mut done = total - missing.len() as u64;
        for batch in missing.chunks(EMBED_BATCH) {
            let vectors = embedder
                .embed(batch)
                .map_err(|source| Error::Embed { source })?;
            self.insert(batch, &vectors)?;
            done += batch.len() as u64;
            report(
                &mut progress,
                Progress {
                    done,
                    total,
                    message: format!("embedded {done}/{total}"),
                    train_loss: None,
                    val_loss: None,
                },
            );
        }
        texts
            .iter()
            .map(|t| {
                self.get(t)
                    .map(<[f32]>::to_vec)
                    .ok_or_else(|| Error::EmbedCache {
                        path: self.path.clone(),
                        reason: "a text was embedded but not cached".into(),
                    })
            })
            .collect()
    }
}

/// Maps an I/O error on `path` to [`Error::Io`].
pub(crate) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

fn key(text: &str) -> [u8; KEY_BYTES] {
    Sha256::digest(text.as_bytes()).into()
}

fn header(fingerprint: &str, max_tokens: usize, dim: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_BYTES);
    h.extend_from_slice(MAGIC);
    let mut fp = [0u8; FINGERPRINT_BYTES];
    fp[..fingerprint.len()].copy_from_slice(fingerprint.as_bytes());
    h.extend_from_slice(&fp);
    h.extend_from_slice(&(max_tokens as u32).to_le_bytes());
    h.extend_from_slice(&(dim as u32).to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use router_core::BoxError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A deterministic embedder over character codes that counts the texts it embeds.
    struct CharEmbedder {
        fingerprint: &'static str,
        calls: AtomicUsize,
    }

    impl Embedder for CharEmbedder {
        fn dim(&self) -> usize {
            3
        }
        fn fingerprint(&self) -> &str {
            self.fingerprint
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
            self.calls.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts
                .iter()
                .map(|t| vec![t.len() as f32, t.bytes().map(f32::from).sum(), 1.0])
                .collect())
        }
    }

    fn embedder(fingerprint: &'static str) -> CharEmbedder {
        CharEmbedder {
            fingerprint,
            calls: AtomicUsize::new(0),
        }
    }

    #[test]
    fn embeds_once_and_reloads_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let e = embedder("aaaa");
        let texts: Vec<String> = (0..70).map(|i| format!("prompt {i}")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut cache = EmbedCache::open(dir.path(), "aaaa", 256, 3).unwrap();
        let first = cache.embed_all(&e, &refs, None).unwrap();
        assert_eq!(e.calls.load(Ordering::SeqCst), 70);
        let mut reopened = EmbedCache::open(dir.path(), "aaaa", 256, 3).unwrap();
        assert_eq!(reopened.len(), 70);
        let again = reopened.embed_all(&e, &refs, None).unwrap();
        assert_eq!(first, again);
        assert_eq!(e.calls.load(Ordering::SeqCst), 70, "nothing re-embedded");
    }

    #[test]
    fn other_fingerprints_and_budgets_never_mix() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = EmbedCache::open(dir.path(), "aaaa", 256, 3).unwrap();
        a.embed_all(&embedder("aaaa"), &["x"], None).unwrap();
        let b = EmbedCache::open(dir.path(), "bbbb", 256, 3).unwrap();
        assert!(b.get("x").is_none());
        let c = EmbedCache::open(dir.path(), "aaaa", 128, 3).unwrap();
        assert!(c.get("x").is_none());
        // Using a cache with another encoder is refused.
        let mut a = EmbedCache::open(dir.path(), "aaaa", 256, 3).unwrap();
        assert!(a.embed_all(&embedder("bbbb"), &["y"], None).is_err());
        // A file renamed to another fingerprint is rejected by its header.
        std::fs::copy(a.path(), dir.path().join("cccc-t256.bin")).unwrap();
        assert!(EmbedCache::open(dir.path(), "cccc", 256, 3).is_err());
    }

    #[test]
    fn torn_record_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = EmbedCache::open(dir.path(), "aaaa", 8, 3).unwrap();
        a.embed_all(&embedder("aaaa"), &["x", "y"], None).unwrap();
        let path = a.path().to_owned();
        let len = std::fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 5).unwrap();
        let mut b = EmbedCache::open(dir.path(), "aaaa", 8, 3).unwrap();
        assert_eq!(b.len(), 1);
        b.embed_all(&embedder("aaaa"), &["x", "y"], None).unwrap();
        let c = EmbedCache::open(dir.path(), "aaaa", 8, 3).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("y"), Some(&[1.0, 121.0, 1.0][..]));
    }
}
