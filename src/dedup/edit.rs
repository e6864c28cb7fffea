//! The edit rule: what an item (with its page's text, when one was fetched) changes in the
//! article it belongs to. Pure; the store loads the article, asks [`decide`] and writes what it
//! says.
//!
//! - The page's text replacing a teaser's feed text is a switch, not an edit: no revision.
//! - Once the body is the page's, a feed edit changes `feed_body` only (and the title, as an
//!   edit, when that changed); a new page text is an edit.
//! - Otherwise a change of more than white space is an edit: the stored document goes to
//!   `article_revisions`. Another source's copy never revises an article (it may only switch a
//!   teaser to its page's text).
//! - An undated item keeps the date the article was first seen on, not the day of the edit.

use chrono::{DateTime, Utc};

use super::{Item, same_words};

/// The article as stored, as far as the rule needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Article<'a> {
    pub title: &'a str,
    pub body: &'a str,
    /// `YYYY-MM-DD`, as in its document.
    pub date: &'a str,
    pub content_hash: &'a str,
    /// Its body is its page's text (`body_origin = 'page'`).
    pub from_page: bool,
    pub fingerprint: Option<u64>,
}

/// An item filed against an existing article.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub item: &'a Item,
    /// The feed's text when the item's body is its page's text (`PageOutcome::feed_body`).
    pub feed_body: Option<&'a str>,
    /// The item is the article's own source's; otherwise it is another source's copy.
    pub own: bool,
}

/// What an item changes in its article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit<'a> {
    Nothing,
    /// The body is the page's text and stays, with the same words and title: only the feed's
    /// text under it changes (`feed_body`).
    FeedBodyOnly(&'a str),
    /// A teaser's feed text replaced by its page's text: not an edit, so no revision.
    Switch(Text<'a>),
    /// An edit: the stored document goes to `article_revisions`, then the article takes this.
    Revise(Text<'a>),
}

/// An article's new text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a> {
    pub title: &'a str,
    pub body: &'a str,
    /// The feed's text when `body` is the page's (`body_origin = 'page'`), else `None`.
    pub feed_body: Option<&'a str>,
    pub fingerprint: Option<u64>,
    /// The item's publication time; `None` keeps the stored one.
    pub published_at: Option<DateTime<Utc>>,
    pub date: &'a str,
    /// Always `text::document(date, title, body)`.
    pub document: String,
    pub content_hash: &'a str,
}

/// What `incoming` changes in `article`.
pub fn decide<'a>(article: &Article<'a>, incoming: &Incoming<'a>) -> Edit<'a> {
    let item = incoming.item;
    let r = &item.rendered;
    let switch = incoming.feed_body.is_some() && !article.from_page;
    if !incoming.own && !switch {
        return Edit::Nothing;
    }
    if incoming.feed_body.is_none() && article.content_hash == item.content_hash {
        return Edit::Nothing;
    }
    let (body, feed_body, fingerprint) = match incoming.feed_body {
        Some(feed_body) => (r.body.as_str(), Some(feed_body), item.simhash),
        // The page's text stays; the feed's teaser is what changed.
        None if article.from_page => (article.body, Some(r.body.as_str()), article.fingerprint),
        None => (r.body.as_str(), None, item.simhash),
    };
    let same_text = same_words(article.title, &r.title) && same_words(article.body, body);
    if !switch && same_text {
        return match feed_body {
            Some(feed_body) if article.from_page => Edit::FeedBodyOnly(feed_body),
            _ => Edit::Nothing,
        };
    }
    let date = match r.published_at {
        Some(_) => r.date.as_str(),
        None => article.date,
    };
    let text = Text {
        title: &r.title,
        body,
        feed_body,
        fingerprint,
        published_at: r.published_at,
        date,
        document: crate::text::document(date, &r.title, body),
        content_hash: &item.content_hash,
    };
    if switch {
        Edit::Switch(text)
    } else {
        Edit::Revise(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::{Identity, content_hash};
    use crate::render::Rendered;

    const FIRST_SEEN: &str = "2024-01-01";

    fn item(title: &str, body: &str, published_at: Option<&str>) -> Item {
        let published_at = published_at.map(|t| DateTime::parse_from_rfc3339(t).unwrap().to_utc());
        // An undated item is dated the day it is seen.
        let date = published_at.map_or("2024-03-09".to_owned(), |at| {
            at.format("%Y-%m-%d").to_string()
        });
        Item {
            identity: Identity::Guid("g".into()),
            key: "k".into(),
            canonical_url: None,
            content_hash: content_hash(title, body),
            simhash: Some(body.len() as u64),
            rendered: Rendered {
                guid: Some("g".into()),
                link: None,
                title: title.into(),
                published_at,
                revised_at: None,
                document: crate::text::document(&date, title, body),
                date,
                body: body.into(),
            },
        }
    }

    /// The article a first item made (`from_page`: with its page's text instead).
    fn article<'a>(item: &'a Item, from_page: bool) -> Article<'a> {
        Article {
            title: &item.rendered.title,
            body: &item.rendered.body,
            date: FIRST_SEEN,
            content_hash: &item.content_hash,
            from_page,
            fingerprint: Some(1),
        }
    }

    fn own(item: &Item) -> Incoming<'_> {
        Incoming {
            item,
            feed_body: None,
            own: true,
        }
    }

    fn text(edit: Edit<'_>) -> Text<'_> {
        match edit {
            Edit::Switch(text) | Edit::Revise(text) => text,
            other => panic!("no new text: {other:?}"),
        }
    }

    #[test]
    fn a_repeat_or_a_change_of_white_space_is_nothing() {
        let first = item("Title", "One two.\n\nThree.", None);
        assert_eq!(decide(&article(&first, false), &own(&first)), Edit::Nothing);
        let spaced = item("Title ", "One  two.\n\nThree.", None);
        assert_ne!(spaced.content_hash, first.content_hash);
        assert_eq!(
            decide(&article(&first, false), &own(&spaced)),
            Edit::Nothing
        );
    }

    #[test]
    fn an_edit_is_a_revision_of_the_new_text() {
        let first = item("Title", "Old words.", None);
        let edited = item("Title", "New words.", None);
        let edit = decide(&article(&first, false), &own(&edited));
        assert!(matches!(edit, Edit::Revise(_)), "{edit:?}");
        let text = text(edit);
        assert_eq!((text.title, text.body), ("Title", "New words."));
        assert_eq!(text.feed_body, None);
        assert_eq!(text.fingerprint, edited.simhash);
        assert_eq!(text.content_hash, edited.content_hash);
        assert_eq!(
            text.document,
            crate::text::document(text.date, "Title", "New words.")
        );
        // A new title alone is an edit too.
        let retitled = item("New title", "Old words.", None);
        assert!(matches!(
            decide(&article(&first, false), &own(&retitled)),
            Edit::Revise(_)
        ));
    }

    #[test]
    fn an_undated_edit_keeps_the_first_date_and_a_dated_one_takes_its_own() {
        let first = item("Title", "Old words.", None);
        let undated = item("Title", "New words.", None);
        let text_of = text(decide(&article(&first, false), &own(&undated)));
        assert_eq!(text_of.date, FIRST_SEEN);
        assert_eq!(text_of.published_at, None);
        assert!(text_of.document.starts_with(" date 2024-01-01 Title"));
        let dated = item("Title", "New words.", Some("2024-02-03T10:00:00Z"));
        let text_of = text(decide(&article(&first, false), &own(&dated)));
        assert_eq!(text_of.date, "2024-02-03");
        assert_eq!(text_of.published_at, dated.rendered.published_at);
        assert!(text_of.document.starts_with(" date 2024-02-03 Title"));
    }

    #[test]
    fn another_sources_copy_never_revises() {
        let first = item("Title", "Old words.", None);
        let copy = item("Their title", "Their words.", None);
        let incoming = Incoming {
            own: false,
            ..own(&copy)
        };
        assert_eq!(decide(&article(&first, false), &incoming), Edit::Nothing);
        // Nor does its page text once the article has the page's.
        let with_page = Incoming {
            feed_body: Some("Their teaser."),
            ..incoming
        };
        assert_eq!(decide(&article(&first, true), &with_page), Edit::Nothing);
    }

    #[test]
    fn a_teasers_page_text_is_a_switch_from_any_source() {
        let teaser = item("Title", "A teaser.", None);
        let page = item("Title", "The whole article, much longer.", None);
        for own in [true, false] {
            let incoming = Incoming {
                item: &page,
                feed_body: Some("A teaser."),
                own,
            };
            let edit = decide(&article(&teaser, false), &incoming);
            assert!(matches!(edit, Edit::Switch(_)), "{edit:?}");
            let text = text(edit);
            assert_eq!(text.body, "The whole article, much longer.");
            assert_eq!(text.feed_body, Some("A teaser."));
            assert_eq!(text.fingerprint, page.simhash);
            assert_eq!(text.date, FIRST_SEEN);
        }
        // Even when the page's text has the teaser's words: the body's origin changes.
        let same = item("Title", "A teaser.", None);
        let incoming = Incoming {
            item: &same,
            feed_body: Some("A teaser."),
            own: true,
        };
        assert!(matches!(
            decide(&article(&teaser, false), &incoming),
            Edit::Switch(_)
        ));
    }

    #[test]
    fn a_feed_edit_under_page_text_changes_the_feed_body_only() {
        let stored = item("Title", "The page's article.", None);
        let feed_edit = item("Title", "An edited teaser.", None);
        assert_eq!(
            decide(&article(&stored, true), &own(&feed_edit)),
            Edit::FeedBodyOnly("An edited teaser.")
        );
        // With a new title it is an edit: the page's text and fingerprint stay.
        let retitled = item("New title", "An edited teaser.", None);
        let edit = decide(&article(&stored, true), &own(&retitled));
        assert!(matches!(edit, Edit::Revise(_)), "{edit:?}");
        let text = text(edit);
        assert_eq!(text.title, "New title");
        assert_eq!(text.body, "The page's article.");
        assert_eq!(text.feed_body, Some("An edited teaser."));
        assert_eq!(text.fingerprint, Some(1));
    }

    #[test]
    fn a_new_page_text_is_an_edit_and_the_same_one_is_not() {
        let stored = item("Title", "The page's article.", None);
        let same_page = Incoming {
            item: &stored,
            feed_body: Some("A new teaser."),
            own: true,
        };
        assert_eq!(
            decide(&article(&stored, true), &same_page),
            Edit::FeedBodyOnly("A new teaser.")
        );
        let new_page = item("Title", "The page's article, corrected.", None);
        let incoming = Incoming {
            item: &new_page,
            feed_body: Some("A teaser."),
            own: true,
        };
        let text = text(decide(&article(&stored, true), &incoming));
        assert_eq!(text.body, "The page's article, corrected.");
        assert_eq!(text.feed_body, Some("A teaser."));
    }
}
