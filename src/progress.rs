//! Progress of long transfers (backups, restores, package pushes and pulls): a bar on a
//! terminal, a plain line every few seconds when output goes to a file or a pipe (as
//! `nats stream backup` does), nothing when asked for none (`--no-progress`).

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a line is written when there is no terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// A handle on one transfer's progress; clones report to the same one.
#[derive(Clone)]
pub struct Progress(Arc<Mutex<Inner>>);

struct Inner {
    what: String,
    total: Option<u64>,
    done: u64,
    shown: Shown,
}

enum Shown {
    Bar(ProgressBar),
    Lines { last: Instant },
    Nothing,
}

impl Progress {
    /// Progress of `what`, of `total` bytes if known; `show` false shows nothing.
    pub fn new(what: &str, total: Option<u64>, show: bool) -> Self {
        let shown = if !show {
            Shown::Nothing
        } else if std::io::stderr().is_terminal() {
            Shown::Bar(bar(what, total))
        } else {
            Shown::Lines {
                last: Instant::now(),
            }
        };
        Self(Arc::new(Mutex::new(Inner {
            what: what.to_owned(),
            total,
            done: 0,
            shown,
        })))
    }

    pub fn inc(&self, bytes: u64) {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        inner.done += bytes;
        let line = inner.line();
        match &mut inner.shown {
            Shown::Bar(bar) => bar.inc(bytes),
            Shown::Lines { last } if last.elapsed() >= LINE_EVERY => {
                *last = Instant::now();
                eprintln!("{line}");
            }
            _ => {}
        }
    }

    pub fn finish(&self) {
        let inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &inner.shown {
            Shown::Bar(bar) => bar.finish_and_clear(),
            Shown::Lines { .. } => eprintln!("{} done", inner.line()),
            Shown::Nothing => {}
        }
    }
}

impl Inner {
    fn line(&self) -> String {
        let done = indicatif::HumanBytes(self.done);
        match self.total {
            Some(total) if total > 0 => format!(
                "{}: {done} of {} ({}%)",
                self.what,
                indicatif::HumanBytes(total),
                self.done * 100 / total
            ),
            _ => format!("{}: {done}", self.what),
        }
    }
}

fn bar(what: &str, total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(total) => {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        }
    };
    bar.set_message(what.to_owned());
    bar
}
