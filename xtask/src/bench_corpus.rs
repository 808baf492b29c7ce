//! `cargo xtask bench corpus`: the engine's peak memory while a large corpus uploads and while a
//! tokenizer trains on it, at several corpus sizes, so a whole-file read (memory growing with
//! the corpus) shows as a ratio between the largest and the smallest size.
//!
//! The engine runs from the built runtime as the shell starts it; the corpus goes through the
//! real API over loopback: a streamed multipart upload, then a training job polled to its end.
//! Peak memory is the kernel's high-water mark of the engine process (`VmHWM`), reset before
//! each step (`/proc/<pid>/clear_refs`), so a step's peak is its own. Training runs on a thread
//! of the engine process, so the one process holds all of it. Linux only: elsewhere the figures
//! say they were not measured.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::bench::{print_table, Samples};
use crate::bench_report::{Figure, Goal, Unit};
use crate::fsutil;
use crate::plan::Plan;
use crate::ui;

const BENCH: &str = "corpus";

/// How big the corpora are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// `bench corpus`: up to the multi-GB corpus a user may bring (about 12 minutes here).
    Full,
    /// `bench all`: the same figures from smaller corpora (about 2 minutes).
    Report,
    /// `--quick`: the same code path in seconds; not a measurement.
    Quick,
}

impl Scale {
    /// Sizes of the long-tail corpus, smallest first.
    fn sizes(self) -> &'static [u64] {
        match self {
            Scale::Full => &[64 << 20, 512 << 20, 2 << 30],
            Scale::Report => &[32 << 20, 256 << 20],
            Scale::Quick => &[2 << 20, 8 << 20],
        }
    }
}

/// The upload's peak at the largest corpus may exceed the smallest's by this ratio: it streams
/// to disk in chunks.
const UPLOAD_GOAL: f64 = 1.1;
/// The same for training on a corpus whose vocabulary is closed (no new words as it grows):
/// the corpus is read line by line, so only the trainer's word table takes memory, and that
/// table does not grow.
const CLOSED_TRAIN_GOAL: f64 = 1.1;
/// On a corpus with a long tail of new words, the trainer's word table grows with the distinct
/// words, as the BPE algorithm needs; the growth may be at most this share of the bytes added
/// (a whole-file read would add all of them: 1.0).
const TAIL_GROWTH_GOAL: f64 = 0.1;

/// The vocabulary trained: a small tokenizer, so the time goes to reading the corpus.
const VOCAB_SIZE: u32 = 8000;

pub fn corpus(plan: &Plan, scale: Scale) -> Result<Vec<Figure>> {
    let sizes = scale.sizes();
    if !cfg!(target_os = "linux") {
        let why = "peak memory of one step is read from /proc (Linux only)";
        return Ok(vec![
            Figure::not_measured(BENCH, "upload: engine peak memory", Unit::Bytes, why),
            Figure::not_measured(BENCH, "training: engine peak memory", Unit::Bytes, why),
        ]);
    }
    let runtime = &plan.runtime_dir;
    let manifest = crate::bench::built_runtime(runtime)?;
    let (smallest, largest) = (sizes[0], *sizes.last().expect("sizes"));
    let scratch_root = plan.root.join("target").join("bench");
    fs_err::create_dir_all(&scratch_root)?;
    let scratch = tempfile::tempdir_in(&scratch_root)?;
    // The corpus, its upload copy and the engine's data: three times the largest, plus room.
    if let Ok(free) = runtime_archive::free_space(scratch.path()) {
        if free < largest * 3 + (1 << 30) {
            bail!(
                "the corpus bench needs {} free in {} (the largest corpus three times over); {} is free",
                ui::human_bytes(largest * 3 + (1 << 30)),
                scratch_root.display(),
                ui::human_bytes(free)
            );
        }
    }

    let python = manifest.launch.program(runtime);
    let measure = |size: u64, words: Words| -> Result<Row> {
        let file = scratch.path().join("corpus.txt");
        ui::step(
            BENCH,
            &format!("{} corpus, {}", ui::human_bytes(size), words.describe()),
        );
        CorpusWriter::new(size, words).write(&file)?;
        // A fresh engine per corpus: memory a previous one left allocated would raise the next
        // one's starting point.
        let data = scratch.path().join("data");
        let engine = Engine::start(&python, runtime, &data)?;
        let idle = engine.rss()?;

        engine.reset_peak()?;
        let started = Instant::now();
        let dataset = engine.upload(&file)?;
        let upload_seconds = started.elapsed().as_secs_f64();
        let upload_peak = engine.peak()?;
        fs_err::remove_file(&file)?;

        engine.reset_peak()?;
        let started = Instant::now();
        let job = engine.train(&dataset)?;
        let train_seconds = started.elapsed().as_secs_f64();
        let train_peak = engine.peak()?;
        engine.delete(&format!("/api/v1/jobs/{job}"))?;
        engine.delete(&format!("/api/v1/datasets/{dataset}"))?;
        engine.stop()?;
        fsutil::remove_path(&data)?;
        Ok(Row {
            size,
            words,
            idle,
            upload_seconds,
            upload_peak,
            train_seconds,
            train_peak,
        })
    };
    let mut rows = Vec::new();
    for &size in sizes {
        rows.push(measure(size, Words::LongTail)?);
    }
    rows.push(measure(smallest, Words::Closed)?);
    rows.push(measure(largest, Words::Closed)?);
    print_table(
        "corpus: the engine's peak resident memory by step (a fresh engine per corpus)",
        &rows
            .iter()
            .map(|row| {
                (
                    format!("{}, {}", ui::human_bytes(row.size), row.words.describe()),
                    format!(
                        "idle {}; upload {:.1} s, peak {}; training {:.1} s, peak {}",
                        ui::human_bytes(row.idle),
                        row.upload_seconds,
                        ui::human_bytes(row.upload_peak),
                        row.train_seconds,
                        ui::human_bytes(row.train_peak)
                    ),
                )
            })
            .collect::<Vec<_>>(),
    );

    let first = &rows[0];
    let last = &rows[sizes.len() - 1];
    let (closed_small, closed_large) = (&rows[sizes.len()], &rows[sizes.len() + 1]);
    let name_of = |size: u64| ui::human_bytes(size);
    let growth = last.train_peak.saturating_sub(first.train_peak);
    let mut figures = vec![
        Figure::new(
            BENCH,
            format!("upload: engine peak memory, {} corpus", name_of(last.size)),
            Unit::Bytes,
            Samples::one(last.upload_peak as f64),
        )
        .anchor(
            format!("the same at {}", name_of(first.size)),
            Samples::one(first.upload_peak as f64),
        )
        .goal(Goal::RatioAtMost { ratio: UPLOAD_GOAL })
        .note(format!(
            "The upload streams to disk in chunks. A fresh engine per corpus; idle before the \
             upload: {}.",
            ui::human_bytes(last.idle)
        )),
        Figure::new(
            BENCH,
            format!(
                "training: engine peak memory, {} corpus, closed vocabulary",
                name_of(closed_large.size)
            ),
            Unit::Bytes,
            Samples::one(closed_large.train_peak as f64),
        )
        .anchor(
            format!("the same at {}", name_of(closed_small.size)),
            Samples::one(closed_small.train_peak as f64),
        )
        .goal(Goal::RatioAtMost {
            ratio: CLOSED_TRAIN_GOAL,
        })
        .note(format!(
            "Byte-level BPE, vocabulary {VOCAB_SIZE}, on text drawn from {LEXICON} words: the \
             corpus is read line by line, so a larger one costs time, not memory."
        )),
        Figure::new(
            BENCH,
            format!(
                "training: peak memory growth {} → {}, long tail of new words",
                name_of(first.size),
                name_of(last.size)
            ),
            Unit::Bytes,
            Samples::one(growth as f64),
        )
        .anchor(
            "the bytes added to the corpus (what a whole-file read would add)",
            Samples::one((last.size - first.size) as f64),
        )
        .goal(Goal::RatioAtMost {
            ratio: TAIL_GROWTH_GOAL,
        })
        .note(format!(
            "Peak {} at {}, {} at {}. One word in {FRESH_WORD_EVERY} is new, as real corpora keep \
             bringing names and typos; BPE training keeps a count and the pairs of every distinct \
             word, so its memory follows the distinct words, not the bytes.",
            ui::human_bytes(first.train_peak),
            name_of(first.size),
            ui::human_bytes(last.train_peak),
            name_of(last.size)
        )),
    ];
    for row in &rows {
        let what = format!("{} corpus, {}", name_of(row.size), row.words.describe());
        figures.push(Figure::new(
            BENCH,
            format!("upload time, {what}"),
            Unit::Seconds,
            Samples::one(row.upload_seconds),
        ));
        figures.push(Figure::new(
            BENCH,
            format!("training time, {what}"),
            Unit::Seconds,
            Samples::one(row.train_seconds),
        ));
    }
    Ok(figures)
}

/// Which words a generated corpus has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Words {
    /// Only the lexicon's: the distinct words stop growing early.
    Closed,
    /// Also a new word every [`FRESH_WORD_EVERY`] words.
    LongTail,
}

impl Words {
    fn describe(self) -> &'static str {
        match self {
            Words::Closed => "closed vocabulary",
            Words::LongTail => "long tail of new words",
        }
    }
}

struct Row {
    size: u64,
    words: Words,
    idle: u64,
    upload_seconds: f64,
    upload_peak: u64,
    train_seconds: f64,
    train_peak: u64,
}

/// A new word (8 random letters) comes about once in this many words.
const FRESH_WORD_EVERY: u64 = 2000;
/// The common words lines are made of, drawn log-uniformly (a few very frequent, a long tail).
const LEXICON: usize = 30_000;
/// Distinct lines drawn from the lexicon; the corpus is a random sequence of them plus lines
/// with new words. Building each line once keeps the writer fast in the xtask's debug build
/// (gigabytes in seconds); the trainer counts words, so repeated lines cost it nothing extra.
const LINES: usize = 50_000;

/// A deterministic English-like text of an exact size: lines of 6–20 words from a fixed
/// lexicon with a heavy head, and new words now and then, as real corpora keep bringing.
struct CorpusWriter {
    size: u64,
    words: Words,
    random: Random,
    lines: Vec<String>,
    words_per_line: u64,
}

/// xorshift64*: fast and the same on every machine.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn word(&mut self, length: usize) -> String {
        (0..length)
            .map(|_| (b'a' + (self.next() % 26) as u8) as char)
            .collect()
    }
}

impl CorpusWriter {
    fn new(size: u64, words: Words) -> CorpusWriter {
        let mut random = Random(0x9E37_79B9_7F4A_7C15);
        let lexicon: Vec<String> = (0..LEXICON)
            .map(|i| {
                let length = 2 + (random.next() % 9) as usize + usize::from(i > 1000);
                random.word(length)
            })
            .collect();
        let mut total_words = 0u64;
        let lines: Vec<String> = (0..LINES)
            .map(|_| {
                let count = 6 + random.next() % 15;
                total_words += count;
                let picked: Vec<&str> = (0..count)
                    .map(|_| {
                        // Log-uniform rank: rank r is drawn about as often as 1/r.
                        let unit = (random.next() >> 11) as f64 / (1u64 << 53) as f64;
                        let rank = ((LEXICON as f64).powf(unit) as usize).saturating_sub(1);
                        lexicon[rank.min(LEXICON - 1)].as_str()
                    })
                    .collect();
                format!("{}.\n", picked.join(" "))
            })
            .collect();
        CorpusWriter {
            size,
            words,
            random,
            words_per_line: total_words / LINES as u64,
            lines,
        }
    }

    fn write(mut self, path: &Path) -> Result<()> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        let mut written = 0u64;
        let fresh_every = (FRESH_WORD_EVERY / self.words_per_line).max(1);
        let mut count = 0u64;
        while written < self.size {
            count += 1;
            let line = if self.words == Words::LongTail && count.is_multiple_of(fresh_every) {
                // A pool line with a new word in front of it.
                let base = &self.lines[(self.random.next() % LINES as u64) as usize];
                format!("{} {base}", self.random.word(8))
            } else {
                let index = (self.random.next() % LINES as u64) as usize;
                let left = (self.size - written) as usize;
                let bytes = self.lines[index].as_bytes();
                let bytes = &bytes[..bytes.len().min(left)];
                out.write_all(bytes)?;
                written += bytes.len() as u64;
                continue;
            };
            let left = (self.size - written) as usize;
            let bytes = &line.as_bytes()[..line.len().min(left)];
            out.write_all(bytes)?;
            written += bytes.len() as u64;
        }
        out.flush()?;
        Ok(())
    }
}

/// The engine, started from the runtime as the shell starts it, with a fixed token.
struct Engine {
    child: Child,
    port: u16,
}

const TOKEN: &str = "bench-corpus-token";

impl Engine {
    fn start(python: &Path, runtime: &Path, data: &Path) -> Result<Engine> {
        fs_err::create_dir_all(data)?;
        let mut child = Command::new(python)
            .args(["-I", "-m", "app", "--port", "0"])
            .current_dir(runtime)
            .env(crate::bench::app().var(runtime_spec::env::DATA_DIR), data)
            .env(
                crate::bench::app().var(runtime_spec::env::RUNTIME_TOKEN),
                TOKEN,
            )
            .env(
                crate::bench::app().var(runtime_spec::env::LAUNCH_ID),
                "bench-corpus",
            )
            // The largest corpus is over the default cap, as a user may raise it.
            .env(
                crate::bench::app().var(runtime_spec::env::MAX_UPLOAD_BYTES),
                (8u64 << 30).to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {}", python.display()))?;
        let mut reader = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let Some(ready) =
            runtime_spec::launch::parse_ready_line(&crate::bench::app().ready_prefix(), &line)
        else {
            let _ = child.kill();
            bail!("the engine printed no READY line (got {line:?})");
        };
        // Drained so a chatty engine never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let engine = Engine {
            child,
            port: ready.port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match engine.request("GET", "/health", None) {
                Ok((200, _)) => break,
                _ if Instant::now() > deadline => bail!("/health did not answer 200 within 60 s"),
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        Ok(engine)
    }

    fn status_kib(&self, key: &str) -> Result<u64> {
        let status = fs_err::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| {
                line.strip_prefix(key)?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .with_context(|| format!("no {key} in /proc/<engine>/status"))
    }

    fn rss(&self) -> Result<u64> {
        Ok(self.status_kib("VmRSS:")? * 1024)
    }

    /// The highest resident memory since the last [`Engine::reset_peak`].
    fn peak(&self) -> Result<u64> {
        Ok(self.status_kib("VmHWM:")? * 1024)
    }

    /// `5` resets the process's peak resident set size to its current one (Linux ≥ 4.0).
    fn reset_peak(&self) -> Result<()> {
        fs_err::write(format!("/proc/{}/clear_refs", self.child.id()), "5")?;
        Ok(())
    }

    fn connect(&self) -> Result<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(600)))?;
        Ok(stream)
    }

    fn head(&self, method: &str, path: &str, content_type: &str, length: u64) -> String {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{}: {TOKEN}\r\n\
             Content-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
            self.port,
            crate::bench::app().token_header(),
        )
    }

    /// One request with an optional JSON body: the status and the body.
    fn request(&self, method: &str, path: &str, json: Option<&str>) -> Result<(u16, String)> {
        let mut stream = self.connect()?;
        let body = json.unwrap_or("");
        let head = self.head(method, path, "application/json", body.len() as u64);
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        read_response(stream)
    }

    fn delete(&self, path: &str) -> Result<()> {
        let (status, body) = self.request("DELETE", path, None)?;
        if status != 204 {
            bail!("DELETE {path}: {status} {body}");
        }
        Ok(())
    }

    /// Streams `file` as a multipart upload, as a browser does; the dataset's id.
    fn upload(&self, file: &Path) -> Result<String> {
        let boundary = "----tokenizer-bench-boundary";
        let preamble = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"corpus.txt\"\r\nContent-Type: text/plain\r\n\r\n"
        );
        let epilogue = format!("\r\n--{boundary}--\r\n");
        let size = fs_err::metadata(file)?.len();
        let length = preamble.len() as u64 + size + epilogue.len() as u64;
        let mut stream = self.connect()?;
        let head = self.head(
            "POST",
            "/api/v1/datasets",
            &format!("multipart/form-data; boundary={boundary}"),
            length,
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(preamble.as_bytes())?;
        std::io::copy(&mut fs_err::File::open(file)?, &mut stream)?;
        stream.write_all(epilogue.as_bytes())?;
        let (status, body) = read_response(stream)?;
        if status != 201 {
            bail!("upload: {status} {body}");
        }
        json_str(&body, "id")
    }

    /// Trains a byte-level BPE on the dataset and waits for the job to succeed; its id.
    fn train(&self, dataset: &str) -> Result<String> {
        let request = serde_json::json!({
            "name": "bench",
            "template": "gpt2-byte-bpe",
            "dataset_ids": [dataset],
            "overrides": { "vocab_size": VOCAB_SIZE },
        });
        let (status, body) = self.request("POST", "/api/v1/jobs", Some(&request.to_string()))?;
        if status != 201 {
            bail!("starting training: {status} {body}");
        }
        let job = json_str(&body, "id")?;
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let (status, body) = self.request("GET", &format!("/api/v1/jobs/{job}"), None)?;
            if status != 200 {
                bail!("job {job}: {status} {body}");
            }
            match json_str(&body, "status")?.as_str() {
                "succeeded" => return Ok(job),
                "queued" | "running" => continue,
                other => bail!("training ended {other}: {body}"),
            }
        }
    }

    fn stop(mut self) -> Result<()> {
        // Closing stdin is the engine's stop signal.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("the engine did not stop within 30 s of its stdin closing");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Status and body of a `Connection: close` response (not chunked: the engine sends JSON with
/// a length).
fn read_response(mut stream: TcpStream) -> Result<(u16, String)> {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("a response without a header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_owned()))
}

fn json_str(body: &str, key: &str) -> Result<String> {
    let value: serde_json::Value =
        serde_json::from_str(body).with_context(|| format!("not JSON: {body}"))?;
    value[key]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {key:?} in {body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_has_the_exact_size_and_is_the_same_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
        CorpusWriter::new(300_001, Words::LongTail)
            .write(&a)
            .unwrap();
        CorpusWriter::new(300_001, Words::LongTail)
            .write(&b)
            .unwrap();
        let text = fs_err::read_to_string(&a).unwrap();
        assert_eq!(text.len(), 300_001);
        assert_eq!(text, fs_err::read_to_string(&b).unwrap());
        let words: Vec<&str> = text.split_whitespace().collect();
        let distinct: std::collections::HashSet<&str> = words.iter().copied().collect();
        // A heavy head (far fewer distinct words than words) and a tail (thousands of them).
        assert!(
            distinct.len() * 3 < words.len(),
            "{} of {}",
            distinct.len(),
            words.len()
        );
        assert!(distinct.len() > 2000, "{}", distinct.len());
    }
}
