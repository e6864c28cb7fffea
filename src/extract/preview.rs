//! `gleaner extract`: an article's web page on standard input, the document gleaner would store
//! for it on standard output (to preview full-text extraction on a saved page).

use std::io::{IsTerminal, Read, Write};

use anyhow::Context;
use chrono::Utc;

use super::{MAX_PAGE_BYTES, extract};

/// Reads a page from standard input and prints its document, exactly as stored (no newline
/// after the last paragraph). `url` is the page's address. A page with no article is an error.
pub fn extract_page(url: Option<&str>) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("gleaner: reading an HTML page from standard input (end with Ctrl-D)");
    }
    // One byte past the budget is enough to refuse a larger page without holding all of it.
    let mut page = Vec::new();
    stdin
        .lock()
        .take(MAX_PAGE_BYTES as u64 + 1)
        .read_to_end(&mut page)
        .context("cannot read standard input")?;
    let extracted = extract(&page, None, url)?;
    let document = extracted.document(None, Utc::now());
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(document.as_bytes())?;
    stdout.flush()?;
    Ok(())
}
