//! A progress bar for long commands (a first `once` over many sources, `export`, `import`):
//! position/total, rate and time left, drawn on stderr, and only when stderr is a terminal.
//! Anywhere else (a pipe, a file, a service's journal) it is nothing at all, so output that
//! scripts read never holds a control character. Stdout is left alone either way: the commands'
//! lines and `--json` objects go there, printed through [`Progress::suspend`] so a line never
//! lands in the middle of the bar.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A bar, or nothing (not a terminal). Cheap to call either way.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar of `total` steps counting `what` ("sources", "documents"), on stderr if it is a
    /// terminal; else a no-op.
    pub fn new(total: u64, what: &str) -> Progress {
        if std::io::stderr().is_terminal() {
            Progress::drawn(total, what)
        } else {
            Progress::hidden()
        }
    }

    /// No bar whatever stderr is (a command with too little to do to need one).
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    fn drawn(total: u64, what: &str) -> Progress {
        let style = ProgressStyle::with_template(
            "{bar:30.cyan/blue} {pos}/{len} {msg} ({rate}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        // indicatif's own {per_sec} shows four decimals: whole steps a second are enough.
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        )
        .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message(what.to_owned());
        // A poll can take a while with nothing finishing: keep the rate and time moving.
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// Whether a bar is being drawn.
    pub fn is_drawn(&self) -> bool {
        self.bar.is_some()
    }

    /// One more step done.
    pub fn inc(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Runs `print` with the bar wiped from the terminal, then draws it again below: for lines
    /// printed while it runs.
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Removes the bar: what was printed stays, the bar does not.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    /// A command that fails half-way leaves no bar behind its error.
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_bar_does_nothing_and_runs_what_it_suspends() {
        let progress = Progress::hidden();
        assert!(!progress.is_drawn());
        progress.inc();
        assert_eq!(progress.suspend(|| 7), 7);
        progress.finish();
    }
}
