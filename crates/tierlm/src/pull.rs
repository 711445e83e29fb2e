//! `tierlm models pull` and `tierlm models list`.
//!
//! Pull downloads into `FILE.part`, resumes an interrupted download with an HTTP
//! `Range` request, shows progress on stderr, retries connection failures, verifies
//! the sha256 when one is given, and only then renames the file into place, so a
//! model path never holds a partial or corrupt file.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tierlm_gateway::config::{self, Overrides, UninitializedConfig};

const ATTEMPTS: u32 = 4;

/// Resolve a source into (URL, file name).
fn resolve(source: &str, revision: &str, hub: &str) -> Result<(String, String), String> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let name = source
            .split(['?', '#'])
            .next()
            .and_then(|s| s.rsplit('/').next())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("cannot tell the file name from `{source}`"))?;
        return Ok((source.to_string(), name.to_string()));
    }
    let parts: Vec<&str> = source.splitn(3, '/').collect();
    match parts.as_slice() {
        [owner, repo, file] if !owner.is_empty() && !repo.is_empty() && !file.is_empty() => {
            let name = file.rsplit('/').next().unwrap_or(file);
            Ok((
                format!(
                    "{}/{owner}/{repo}/resolve/{revision}/{file}",
                    hub.trim_end_matches('/')
                ),
                name.to_string(),
            ))
        }
        _ => Err(format!("`{source}` is neither a URL nor OWNER/REPO/FILE")),
    }
}

fn hash_file(path: &Path, hasher: &mut Sha256) -> std::io::Result<u64> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

struct Progress {
    name: String,
    total: Option<u64>,
    last: Instant,
    started: Instant,
    start_bytes: u64,
    tty: bool,
    last_decile: u64,
}

impl Progress {
    fn show(&mut self, done: u64, force: bool) {
        let now = Instant::now();
        if !force && now.duration_since(self.last) < Duration::from_millis(200) {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.started).as_secs_f64().max(1e-3);
        let speed = (done - self.start_bytes) as f64 / secs / 1e6;
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let line = match self.total {
            Some(t) if t > 0 => {
                let pct = done * 100 / t;
                let width = 30;
                let filled = (pct as usize * width / 100).min(width);
                if !self.tty {
                    if pct / 10 == self.last_decile && !force {
                        return;
                    }
                    self.last_decile = pct / 10;
                }
                format!(
                    "{} [{}{}] {pct:>3}% {:.1}/{:.1} MiB {speed:.1} MB/s",
                    self.name,
                    "#".repeat(filled),
                    "-".repeat(width - filled),
                    mib(done),
                    mib(t)
                )
            }
            _ => format!("{} {:.1} MiB {speed:.1} MB/s", self.name, mib(done)),
        };
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
}

/// One download attempt, appending to `part`. Returns the bytes in `part` afterwards.
async fn attempt(
    client: &reqwest::Client,
    url: &str,
    part: &Path,
    name: &str,
) -> Result<u64, String> {
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut req = client.get(url);
    if have > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status();
    if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE && have > 0 {
        return Ok(have); // already complete
    }
    if !status.is_success() {
        return Err(format!("server answered {status} for {url}"));
    }
    let resuming = status == reqwest::StatusCode::PARTIAL_CONTENT && have > 0;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(resuming)
        .write(true)
        .truncate(!resuming)
        .open(part)
        .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
    let mut done = if resuming { have } else { 0 };
    if resuming {
        eprintln!("resuming {name} at {done} bytes");
    }
    let mut progress = Progress {
        name: name.to_string(),
        total: resp.content_length().map(|l| l + done),
        last: Instant::now() - Duration::from_secs(1),
        started: Instant::now(),
        start_bytes: done,
        tty: std::io::stderr().is_terminal(),
        last_decile: u64::MAX,
    };
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("download interrupted: {e}"))?;
        file.write_all(&chunk)
            .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
        done += chunk.len() as u64;
        progress.show(done, false);
    }
    progress.show(done, true);
    if progress.tty {
        eprintln!();
    }
    file.flush().map_err(|e| e.to_string())?;
    Ok(done)
}

async fn download(url: &str, dest: &Path, expected: Option<&str>) -> Result<String, String> {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let part = PathBuf::from(format!("{}.part", dest.display()));
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .user_agent(concat!("tierlm/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    let mut last_err = String::new();
    for i in 0..ATTEMPTS {
        match attempt(&client, url, &part, &name).await {
            Ok(_) => {
                last_err.clear();
                break;
            }
            Err(e) => {
                last_err = e;
                if i + 1 < ATTEMPTS {
                    let wait = Duration::from_millis(500 * 2u64.pow(i));
                    eprintln!("{last_err}; retrying in {:.1}s", wait.as_secs_f32());
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
    if !last_err.is_empty() {
        return Err(format!(
            "{last_err} (partial download kept at {} for resuming)",
            part.display()
        ));
    }
    let mut hasher = Sha256::new();
    hash_file(&part, &mut hasher).map_err(|e| e.to_string())?;
    let digest = format!("{:x}", hasher.finalize());
    if let Some(want) = expected {
        if !digest.eq_ignore_ascii_case(want.trim()) {
            let _ = std::fs::remove_file(&part);
            return Err(format!("sha256 mismatch for {name}: expected {want}, got {digest}; the download was deleted"));
        }
    }
    let mut magic = [0u8; 4];
    if std::fs::File::open(&part)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic != b"GGUF"
    {
        eprintln!("warning: {name} does not start with the GGUF magic bytes; it may not load");
    }
    std::fs::rename(&part, dest)
        .map_err(|e| format!("cannot move the download into place: {e}"))?;
    Ok(digest)
}

pub fn pull(source: &str, dir: &Path, sha256: Option<&str>, revision: &str, hub: &str) -> ExitCode {
    let (url, name) = match resolve(source, revision, hub) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let dest = dir.join(&name);
    if dest.is_file() {
        let mut h = Sha256::new();
        if hash_file(&dest, &mut h).is_ok() {
            let digest = format!("{:x}", h.finalize());
            if sha256.is_none_or(|w| w.eq_ignore_ascii_case(&digest)) {
                println!("{} already present (sha256 {digest})", dest.display());
                return ExitCode::SUCCESS;
            }
        }
    }
    let runtime = match crate::runtime(false) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match runtime.block_on(download(&url, &dest, sha256)) {
        Ok(digest) => {
            println!("{} (sha256 {digest})", dest.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn list(config_path: Option<PathBuf>, server: Option<String>) -> ExitCode {
    let raw = match config_path.as_deref().map(config::parse_file) {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        None => UninitializedConfig::default(),
    };
    let cfg = match raw.load(&Overrides::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let loaded: Option<serde_json::Value> = server.and_then(|url| {
        let rt = crate::runtime(false).ok()?;
        rt.block_on(async {
            let r = reqwest::get(format!("{}/ready", url.trim_end_matches('/')))
                .await
                .ok()?;
            r.json::<serde_json::Value>().await.ok()
        })
    });
    let is_loaded = |name: &str| {
        loaded.as_ref().map(|v| {
            v["models"]
                .as_array()
                .is_some_and(|a| a.iter().any(|m| m["name"] == name))
                || v["embeddings"] == name
        })
    };
    println!(
        "{:<24} {:<10} {:<8} {:>10}  PATH",
        "NAME", "KIND", "LOADED", "SIZE"
    );
    let size =
        |p: &Path| std::fs::metadata(p).map(|m| format!("{:.1} MiB", m.len() as f64 / 1048576.0));
    // Each model, then its LoRA adapters (served as models of their own).
    let rows = cfg.models.iter().flat_map(|m| {
        std::iter::once((&m.name, "chat", &m.path))
            .chain(m.adapters.iter().map(|a| (&a.name, "chat+lora", &a.path)))
    });
    for (name, kind, path) in rows {
        let state = match is_loaded(name) {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        println!(
            "{:<24} {:<10} {:<8} {:>10}  {}",
            name,
            kind,
            state,
            size(path).unwrap_or_else(|_| "missing".into()),
            path.display()
        );
    }
    if let Some(e) = &cfg.embeddings {
        let state = match is_loaded(&e.name) {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        let present = if e.path.join("model.safetensors").is_file() {
            "present"
        } else {
            "missing"
        };
        println!(
            "{:<24} {:<10} {:<8} {:>10}  {}",
            e.name,
            "embedding",
            state,
            present,
            e.path.display()
        );
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_urls_and_hub_paths() {
        let (u, n) = resolve("http://h/x/a.gguf?x=1", "main", "https://hf").unwrap();
        assert_eq!(
            (u.as_str(), n.as_str()),
            ("http://h/x/a.gguf?x=1", "a.gguf")
        );
        let (u, n) = resolve("org/repo/sub/b.gguf", "v1", "https://hf/").unwrap();
        assert_eq!(u, "https://hf/org/repo/resolve/v1/sub/b.gguf");
        assert_eq!(n, "b.gguf");
        assert!(resolve("nope", "main", "x").is_err());
    }
}
