//! What a push shows while it runs: on a terminal, one bar per blob being uploaded (bytes,
//! throughput, ETA) as docker draws them; elsewhere (CI logs) one line per blob or manifest
//! once it is done; nothing with `--quiet` or `--json`.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::push::{Item, Kind, Status};
use crate::source::Blob;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Bars on a terminal, lines otherwise.
    Human,
    Quiet,
}

pub struct Progress {
    /// Present when bars are drawn.
    bars: Option<MultiProgress>,
    lines: bool,
}

/// One blob's bar, advanced as its bytes are sent (a no-op without bars).
pub struct BlobProgress(Option<ProgressBar>);

impl BlobProgress {
    pub fn sent(&self, bytes: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(bytes);
        }
    }

    /// Where a resumed or retried upload stands.
    pub fn at(&self, offset: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(offset);
        }
    }
}

/// The first 12 hex digits, as docker shows layer ids.
fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex.chars().take(12).collect()
}

impl Progress {
    pub fn new(output: Output) -> Progress {
        let human = output == Output::Human;
        let terminal = std::io::stderr().is_terminal();
        Progress {
            bars: (human && terminal)
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            lines: human && !terminal,
        }
    }

    pub fn blob(&self, blob: &Blob) -> BlobProgress {
        BlobProgress(self.bars.as_ref().map(|bars| {
            let style = ProgressStyle::with_template(
                "{prefix}: {msg:9} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .expect("the template is valid")
            .progress_chars("=> ");
            let bar = bars.add(ProgressBar::new(blob.size).with_style(style));
            bar.set_prefix(short(&blob.digest.to_string()));
            bar.set_message("uploading");
            bar
        }))
    }

    /// Reports a finished item, ending its bar when it had one.
    pub fn done(&self, item: &Item, bar: Option<BlobProgress>) {
        if let Some(bar) = bar.and_then(|b| b.0) {
            bar.set_message(status(item.status));
            bar.finish();
        } else if let Some(bars) = &self.bars {
            let _ = bars.println(item_line(item));
        } else if self.lines {
            println!("{}", item_line(item));
        }
    }
}

fn status(status: Status) -> &'static str {
    match status {
        Status::Pushed => "pushed",
        Status::Mounted => "mounted",
        Status::Skipped => "exists",
    }
}

pub fn item_line(item: &Item) -> String {
    let kind = match item.kind {
        Kind::Blob => "blob",
        Kind::Manifest => "manifest",
    };
    let mut what = status(item.status).to_string();
    if let Some(offset) = item.resumed_from {
        what.push_str(&format!(", resumed at {}", bytes(offset)));
    }
    if let Some(n) = item.requests.filter(|&n| n > 1) {
        what.push_str(&format!(" in {n} requests"));
    }
    format!("{kind} {} {}: {what}", item.digest, bytes(item.size))
}

/// A size as people read it: `512 B`, `3.0 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_lines_read_as_docker_shows_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
        let item = Item {
            kind: Kind::Blob,
            digest: "sha256:ab".into(),
            size: 40 << 20,
            status: Status::Pushed,
            requests: Some(3),
            sent: 16 << 20,
            resumed_from: Some(24 << 20),
        };
        assert_eq!(
            item_line(&item),
            "blob sha256:ab 40.0 MiB: pushed, resumed at 24.0 MiB in 3 requests"
        );
    }
}
