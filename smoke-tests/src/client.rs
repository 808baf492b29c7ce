//! A small HTTP client for the engine's API (apps/tokenizer-studio/API.md), over loopback.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client as Http, Response};
use runtime_spec::launch::HEALTH_PATHS;
use serde_json::{json, Value};
use supervisor::{loopback, Engine};

use crate::{fail, SmokeError};

/// Talks to one running engine with its launch token.
pub struct Client {
    http: Http,
    base: String,
    port: u16,
    token: String,
    /// The app's token header, from the manifest's launch contract.
    token_header: String,
    launch_id: String,
}

impl Client {
    pub fn new(engine: &Engine, manifest: &runtime_spec::Manifest) -> Client {
        let http = loopback::client(Duration::from_secs(60)).expect("a plain HTTP client builds");
        Client {
            http,
            base: engine.url().trim_end_matches('/').to_owned(),
            port: engine.port(),
            token: engine.token().to_owned(),
            token_header: manifest
                .launch
                .token_header()
                .expect("the engine started, so its contract names the variable prefix"),
            launch_id: engine.launch_id().to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn get(&self, step: &'static str, path: &str) -> Result<Value, SmokeError> {
        let response = self
            .http
            .get(self.url(path))
            .header(self.token_header.as_str(), &self.token)
            .send();
        json_of(step, path, response)
    }

    fn post(&self, step: &'static str, path: &str, body: &Value) -> Result<Value, SmokeError> {
        let response = self
            .http
            .post(self.url(path))
            .header(self.token_header.as_str(), &self.token)
            .json(body)
            .send();
        json_of(step, path, response)
    }

    /// Both health endpoints answer 200 with this launch's id.
    pub fn check_health(&self) -> Result<(), SmokeError> {
        for path in HEALTH_PATHS {
            let response = self.http.get(self.url(path)).send();
            let health = json_of("health", path, response)?;
            if health["status"] != "ok" || health["launch_id"] != self.launch_id.as_str() {
                return Err(fail(
                    "health",
                    format!(
                        "{path} answered {health}, expected status ok and launch_id {}",
                        self.launch_id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// No token → 401; a foreign Host header (DNS rebinding) → rejected.
    pub fn check_security(&self) -> Result<(), SmokeError> {
        let status = self
            .http
            .get(self.url("/api/v1/jobs"))
            .send()
            .map_err(|error| fail("security", error.to_string()))?
            .status();
        if status.as_u16() != 401 {
            return Err(fail(
                "security",
                format!("GET /api/v1/jobs without the token answered {status}, expected 401"),
            ));
        }
        let status = foreign_host_status(
            &self.http,
            self.port,
            "/api/v1/health",
            "rebind.example:80",
            None,
        )?;
        if status != 403 {
            return Err(fail(
                "security",
                format!("a foreign Host header answered {status}, expected 403"),
            ));
        }
        let status = foreign_host_status(
            &self.http,
            self.port,
            "/api/v1/jobs",
            "evil.example",
            Some((self.token_header.as_str(), &self.token)),
        )?;
        if status != 403 {
            return Err(fail(
                "security",
                format!("a foreign Host header with the token answered {status}, expected 403"),
            ));
        }
        Ok(())
    }

    /// Uploads a generated corpus, trains a small byte-level BPE and waits for success; returns
    /// the job id. Also checks the "try it" call.
    pub fn train_small_corpus(&self) -> Result<String, SmokeError> {
        let corpus = generated_corpus();
        let part = multipart::Part::bytes(corpus.into_bytes())
            .file_name("smoke corpus.txt")
            .mime_str("text/plain")
            .expect("valid mime");
        let response = self
            .http
            .post(self.url("/api/v1/datasets"))
            .header(self.token_header.as_str(), &self.token)
            .multipart(multipart::Form::new().part("file", part))
            .send();
        let dataset = json_of("upload", "/api/v1/datasets", response)?;
        let dataset_id = dataset["id"]
            .as_str()
            .ok_or_else(|| fail("upload", format!("no id in {dataset}")))?;
        let job = self.post(
            "train",
            "/api/v1/jobs",
            &json!({"name": "smoke", "template": "gpt2-byte-bpe", "dataset_ids": [dataset_id], "overrides": {"vocab_size": 600}}),
        )?;
        let job_id = job["id"]
            .as_str()
            .ok_or_else(|| fail("train", format!("no id in {job}")))?
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let job = self.get("train", &format!("/api/v1/jobs/{job_id}"))?;
            match job["status"].as_str() {
                Some("succeeded") => break,
                Some("queued" | "running") if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                _ => return Err(fail("train", format!("job ended as {job}"))),
            }
        }
        let tried = self.post(
            "try it",
            &format!("/api/v1/jobs/{job_id}/try"),
            &json!({"text": "hello tokenizer studio"}),
        )?;
        let n_tokens = tried["tokens"].as_array().map_or(0, Vec::len);
        if n_tokens == 0 || tried["ids"].as_array().map_or(0, Vec::len) != n_tokens {
            return Err(fail(
                "try it",
                format!("expected tokens and ids, got {tried}"),
            ));
        }
        Ok(job_id)
    }

    /// Saves the job's `tokenizer.json` to `dest`.
    pub fn download_artifact(&self, job_id: &str, dest: &Path) -> Result<(), SmokeError> {
        let path = format!("/api/v1/jobs/{job_id}/artifact");
        let response = self
            .http
            .get(self.url(&path))
            .header(self.token_header.as_str(), &self.token)
            .send()
            .map_err(|error| fail("download", error.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(
                "download",
                format!("{path} answered {}", response.status()),
            ));
        }
        let bytes = response
            .bytes()
            .map_err(|error| fail("download", error.to_string()))?;
        fs_err::write(dest, &bytes).map_err(|error| fail("download", error.to_string()))
    }

    /// The job is in the history of this (restarted) engine.
    pub fn check_job_listed(&self, job_id: &str) -> Result<(), SmokeError> {
        let jobs = self.get("history", "/api/v1/jobs")?;
        let found = jobs
            .as_array()
            .into_iter()
            .flatten()
            .find(|job| job["id"] == job_id);
        match found {
            Some(job) if job["status"] == "succeeded" => Ok(()),
            Some(job) => Err(fail(
                "history",
                format!("job {job_id} is listed as {}", job["status"]),
            )),
            None => Err(fail(
                "history",
                format!("job {job_id} is missing after a restart: {jobs}"),
            )),
        }
    }
}

impl Client {
    /// `GET /api/v1/system`: the runtime variant, torch and the device the engine computes on.
    pub fn system(&self) -> Result<Value, SmokeError> {
        self.get("compute", "/api/v1/system")
    }

    /// `POST /api/v1/system/compute-check`: a timed matrix multiplication on the engine's device.
    pub fn compute_check(&self) -> Result<Value, SmokeError> {
        self.post("compute", "/api/v1/system/compute-check", &json!({}))
    }
}

fn json_of(
    step: &'static str,
    path: &str,
    response: reqwest::Result<Response>,
) -> Result<Value, SmokeError> {
    let response = response.map_err(|error| fail(step, format!("{path}: {error}")))?;
    let status = response.status();
    let text = response
        .text()
        .map_err(|error| fail(step, format!("{path}: {error}")))?;
    if !status.is_success() {
        return Err(fail(step, format!("{path} answered {status}: {text}")));
    }
    serde_json::from_str(&text).map_err(|error| {
        fail(
            step,
            format!("{path} answered invalid JSON ({error}): {text}"),
        )
    })
}

/// One GET with another Host header than the URL's (hyper keeps a Host header it is given).
fn foreign_host_status(
    http: &Http,
    port: u16,
    path: &str,
    host: &str,
    token: Option<(&str, &str)>,
) -> Result<u16, SmokeError> {
    let mut request = http
        .get(loopback::url(port, path))
        .header(reqwest::header::HOST, host);
    if let Some((header, token)) = token {
        request = request.header(header, token);
    }
    let response = request
        .send()
        .map_err(|error| fail("security", loopback::error_chain(&error)))?;
    Ok(response.status().as_u16())
}

/// ~150 KB of varied sentences, generated (no downloads).
fn generated_corpus() -> String {
    let subjects = [
        "The tokenizer",
        "A small model",
        "Every user",
        "Our desktop app",
        "The runtime",
        "A curious cat",
    ];
    let verbs = ["learns", "merges", "splits", "counts", "encodes", "decodes"];
    let objects = [
        "frequent byte pairs",
        "rare unicode words like naïve café",
        "numbers such as 12345",
        "東京 and Zürich",
        "long compound words",
        "punctuation, quotes and dashes",
    ];
    let mut text = String::new();
    let mut state: u64 = 42;
    for _ in 0..3000 {
        let mut pick = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % n
        };
        let line = format!(
            "{} {} {}.\n",
            subjects[pick(subjects.len())],
            verbs[pick(verbs.len())],
            objects[pick(objects.len())]
        );
        text.push_str(&line);
    }
    text
}
