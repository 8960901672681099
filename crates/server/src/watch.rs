//! The watched landing folder (`--watch DIR`): files dropped there (by AzCopy, a blob sync, a
//! script) are ingested once, then moved away.
//!
//! Every second the folder is listed; each regular file not hidden and unchanged for a second
//! (so one still being written is left for the next round) becomes a job of its own, with its
//! name and size as the position committed with its rows. Once the job is acknowledged (its rows
//! are committed) the file moves to `DIR/done/` when every record was stored or already stored,
//! else to `DIR/rejected/` beside `<name>.reason.txt`, which lists each rejected record and why
//! (the file's other records are stored). A crash before the move only means the file is read
//! again at the next start, and its records are then skipped as duplicates.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gatehouse_formats::input::InputFile;
use gatehouse_ingest::{InputsJob, SourcePosition};

use crate::config::WatchConfig;
use crate::AppState;

/// Where ingested files go.
pub const DONE_DIR: &str = "done";
/// Where files with rejected records go.
pub const REJECTED_DIR: &str = "rejected";

/// Watches until the task is aborted.
pub async fn run(state: Arc<AppState>, config: WatchConfig) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let (state, round_config) = (Arc::clone(&state), config.clone());
        let round = tokio::task::spawn_blocking(move || scan(&state, &round_config)).await;
        match round {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                tracing::info!(files = n, dir = %config.dir.display(), "ingested from the watched folder")
            }
            Ok(Err(e)) => tracing::error!(error = %e, dir = %config.dir.display(), "watching"),
            Err(e) => tracing::error!(error = %e, "the watch task failed"),
        }
    }
}

/// One round: ingests the files that are ready; how many were handled.
fn scan(state: &AppState, config: &WatchConfig) -> std::io::Result<usize> {
    let ready = ready_files(&config.dir)?;
    if ready.is_empty() {
        return Ok(0);
    }
    // Every ready file is submitted first, so they share commits, then each is moved as its
    // outcome arrives.
    let mut waiting = Vec::new();
    for path in ready {
        let input = InputFile::file(&path)?;
        let name = path
            .strip_prefix(&config.dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let job = InputsJob {
            position: Some(SourcePosition {
                app_id: format!("watch:{name}"),
                version: i64::try_from(input.size).unwrap_or(i64::MAX),
            }),
            inputs: vec![input],
            format: None,
            tenant: config.tenant.clone(),
            exclusive: false,
        };
        let guard = state.metrics.job_started();
        match state.ingestor.submit_inputs(job) {
            Ok(rx) => waiting.push((path, rx, guard)),
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
    }
    let handled = waiting.len();
    for (path, rx, guard) in waiting {
        let outcome = rx
            .recv()
            .map_err(|_| std::io::Error::other("the ingest pipeline stopped"))?;
        match outcome {
            Ok(summary) => {
                guard.acknowledged();
                state
                    .metrics
                    .job_done(config.tenant.as_deref().unwrap_or("*"), &summary);
                if summary.rejected.is_empty() {
                    move_into(&path, &config.dir.join(DONE_DIR))?;
                } else {
                    let dest = move_into(&path, &config.dir.join(REJECTED_DIR))?;
                    let mut reason = format!(
                        "{} record(s) stored, {} already stored, {} rejected:\n",
                        summary.total_stored(),
                        summary.duplicates,
                        summary.rejected.len()
                    );
                    for r in &summary.rejected {
                        reason.push_str(&format!(
                            "line {}: [{}] {}\n",
                            r.origin.line,
                            r.code(),
                            r.reason
                        ));
                    }
                    std::fs::write(reason_file(&dest), reason)?;
                }
            }
            Err(e) => {
                // The pipeline failed: leave the file for the next round.
                return Err(std::io::Error::other(e));
            }
        }
    }
    Ok(handled)
}

/// `<file>.reason.txt` beside a rejected file.
pub fn reason_file(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".reason.txt");
    path.with_file_name(name)
}

/// Regular, visible files directly in `dir` that have not changed for a second, oldest first.
fn ready_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let now = SystemTime::now();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let modified = meta.modified().unwrap_or(now);
        if now.duration_since(modified).unwrap_or_default() < Duration::from_secs(1) {
            continue;
        }
        files.push((modified, entry.path()));
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// Moves a file into `dir` (created if needed), keeping its name unless one is taken there.
fn move_into(path: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut dest = dir.join(&name);
    let mut n = 1;
    while dest.exists() {
        dest = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    std::fs::rename(path, &dest)?;
    Ok(dest)
}
