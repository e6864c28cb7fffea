//! What filing a document's items means, whatever the engine: the counts, how an item changed
//! its article, and what a page fetch record says. Shared by the SQLite and PostgreSQL stores,
//! so a rule change reaches both.

use super::pages::Stored;
use crate::record::{PageOutcome, PageRecord};

/// What filing one document changed.
#[derive(Debug, Default)]
pub(super) struct Filed {
    pub new: u64,
    pub updated: u64,
    pub near_duplicates: u64,
    /// Articles whose body became their page's text (new ones and teasers replaced).
    pub full_text: u64,
    /// Items not stored again because retention removed their article.
    pub removed: u64,
    /// Why the source's guids cannot be trusted, when filing showed it (a guid that changed
    /// while its link stayed).
    pub unstable_guids: Option<String>,
}

impl Filed {
    /// Counts `change`. Returns whether the article's text is new to the near-duplicate
    /// comparison (a new article, or a teaser that just got its page's text).
    pub fn count(&mut self, change: Change) -> bool {
        match change {
            Change::None => false,
            Change::Revised => {
                self.updated += 1;
                false
            }
            Change::Created => {
                self.new += 1;
                true
            }
            Change::Switched => {
                self.full_text += 1;
                true
            }
        }
    }
}

/// A known entry of the source.
pub(super) struct Entry {
    pub id: i64,
    pub article_id: i64,
    pub content_hash: String,
}

/// How filing an item changed its article.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    None,
    /// A new article.
    Created,
    /// A teaser's feed text replaced by its page's text: not an edit, so no revision.
    Switched,
    /// An edit: the old document is kept in `article_revisions`.
    Revised,
}

/// What `page_fetches.outcome` says of a page, given what it changed.
pub(super) fn stored(page: &PageRecord, change: Change) -> Stored {
    match (&page.outcome, change) {
        (PageOutcome::Extracted { .. }, Change::None) => Stored::Unchanged,
        (PageOutcome::Extracted { .. }, _) => Stored::Extracted,
        (PageOutcome::KeptFeed { retry: true, .. }, _) => Stored::Deferred,
        (PageOutcome::KeptFeed { retry: false, .. }, _) => Stored::KeptFeed,
    }
}
