//! From a feed entry to the document form: the title cleaned, the DATE chosen, the body turned
//! into paragraphs and the whole document assembled. Pure; the rules are FORMAT.md's and live in
//! `text`, this module only decides which parts of the entry feed them.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeDelta, Utc};

use crate::feed::{Body, Entry};
use crate::text;

/// An entry in the document form, with what identifies it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub guid: Option<String>,
    /// The link as the publisher gave it.
    pub link: Option<String>,
    pub title: String,
    pub published_at: Option<DateTime<Utc>>,
    /// When the publisher last changed the item, as the feed says (its updated time, else its
    /// published time): a new value is a new revision of the article.
    pub revised_at: Option<DateTime<Utc>>,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub body: String,
    pub document: String,
}

/// Renders one entry. `timezone` overrides the timestamp's own offset for the DATE; `seen_at`
/// dates an entry that has no usable timestamp.
pub fn render_entry(
    entry: &Entry,
    timezone: Option<chrono_tz::Tz>,
    seen_at: DateTime<Utc>,
) -> Rendered {
    let title = entry
        .title
        .as_deref()
        .map(text::clean_title)
        .unwrap_or_default();
    let paragraphs = match &entry.body {
        Some(Body::Html(html)) => text::html_to_paragraphs(html),
        Some(Body::Text(plain)) => text::text_to_paragraphs(plain),
        None => Vec::new(),
    };
    let body = text::body_from_paragraphs(&title, paragraphs);
    let published = usable_timestamp(entry.published, seen_at);
    let date = document_date(published, timezone, seen_at).to_string();
    let document = text::document(&date, &title, &body);
    Rendered {
        guid: entry.guid.clone(),
        link: entry.link.clone(),
        title,
        published_at: published.map(|p| p.with_timezone(&Utc)),
        revised_at: entry.updated.map(|u| u.to_utc()),
        date,
        body,
        document,
    }
}

/// Years a publication date can be in: outside them a timestamp is a typo or a placeholder
/// (`0001-01-01`, `9999-12-31`), and every date written stays four digits.
const PLAUSIBLE_YEARS: std::ops::RangeInclusive<i32> = 1900..=2100;

/// How far past the moment an item was seen its timestamp may be: clocks and zones a day off
/// are common; an item from next month is a wrong timestamp, and trusting it would date the
/// article wrongly and stretch the source's polling history.
const FUTURE_SLACK: TimeDelta = TimeDelta::days(2);

/// The item's timestamp when it can be believed: a year in [`PLAUSIBLE_YEARS`], and no later
/// than [`FUTURE_SLACK`] after `seen_at`. Otherwise the item is dated as an undated one.
pub fn usable_timestamp(
    published: Option<DateTime<FixedOffset>>,
    seen_at: DateTime<Utc>,
) -> Option<DateTime<FixedOffset>> {
    published.filter(|at| {
        PLAUSIBLE_YEARS.contains(&at.to_utc().year())
            && at.to_utc() <= seen_at.checked_add_signed(FUTURE_SLACK).unwrap_or(seen_at)
    })
}

/// The DATE rule: the calendar date in the timestamp's own offset (or the source's time zone),
/// else (no timestamp, or none to believe) the UTC date on which the item was first seen.
pub fn document_date(
    published: Option<DateTime<FixedOffset>>,
    timezone: Option<chrono_tz::Tz>,
    seen_at: DateTime<Utc>,
) -> NaiveDate {
    match (usable_timestamp(published, seen_at), timezone) {
        (Some(at), Some(tz)) => at.with_timezone(&tz).date_naive(),
        (Some(at), None) => at.date_naive(),
        (None, _) => seen_at.date_naive(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc2822(text).unwrap()
    }

    #[test]
    fn date_keeps_the_publishers_offset() {
        let seen = Utc::now();
        let late_evening = at("Fri, 03 Feb 2023 22:40:00 -0500");
        assert_eq!(
            document_date(Some(late_evening), None, seen).to_string(),
            "2023-02-03"
        );
        // A configured zone wins: 03:40 UTC on the 4th is the 4th in Paris.
        assert_eq!(
            document_date(Some(late_evening), Some(chrono_tz::Tz::Europe__Paris), seen).to_string(),
            "2023-02-04"
        );
        let seen = DateTime::parse_from_rfc3339("2024-05-06T23:59:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(document_date(None, None, seen).to_string(), "2024-05-06");
    }

    #[test]
    fn dates_no_one_can_believe_are_treated_as_missing() {
        let seen = DateTime::parse_from_rfc3339("2024-05-06T10:00:00Z")
            .unwrap()
            .to_utc();
        let fixed = |text: &str| DateTime::parse_from_rfc3339(text).unwrap();
        for (published, date) in [
            ("1899-12-31T23:59:59Z", "2024-05-06"),
            ("0001-01-01T00:00:00Z", "2024-05-06"),
            ("2101-01-01T00:00:00Z", "2024-05-06"),
            ("9999-12-31T23:59:59Z", "2024-05-06"),
            // Three days ahead of the moment it was seen.
            ("2024-05-09T10:00:01Z", "2024-05-06"),
            // A day ahead is a clock or a zone off: kept.
            ("2024-05-07T09:00:00+02:00", "2024-05-07"),
            ("1900-01-01T00:00:00Z", "1900-01-01"),
            ("2024-05-08T10:00:00Z", "2024-05-08"),
        ] {
            let entry = Entry {
                guid: None,
                link: None,
                title: Some("t".into()),
                published: Some(fixed(published)),
                updated: None,
                body: None,
            };
            let r = render_entry(&entry, None, seen);
            assert_eq!(r.date, date, "{published}");
            assert_eq!(r.document, format!(" date {date} t"));
            assert_eq!(
                r.published_at.is_some(),
                date != "2024-05-06",
                "{published}"
            );
        }
        // Far past and far future, with an offset that moves the day: still four digits.
        let far = DateTime::parse_from_rfc3339("+10000-01-01T00:00:00-14:00").ok();
        assert_eq!(document_date(far, None, seen).to_string(), "2024-05-06");
    }

    #[test]
    fn entry_without_anything_still_renders_the_header() {
        let entry = Entry {
            guid: None,
            link: None,
            title: None,
            published: None,
            updated: None,
            body: None,
        };
        let seen = DateTime::parse_from_rfc3339("2024-05-06T10:00:00Z")
            .unwrap()
            .to_utc();
        let r = render_entry(&entry, None, seen);
        assert_eq!(r.document, " date 2024-05-06");
        assert_eq!(r.body, "");
    }

    #[test]
    fn text_bodies_are_not_parsed_as_html() {
        let entry = Entry {
            guid: Some("1".into()),
            link: Some("http://www.example.org/a?utm_source=rss".into()),
            title: Some("A &amp; B".into()),
            published: Some(at("Fri, 03 Feb 2023 10:00:00 +0000")),
            updated: None,
            body: Some(Body::Text("x <b>not bold</b>\nsecond".into())),
        };
        let r = render_entry(&entry, None, Utc::now());
        assert_eq!(
            r.document,
            " date 2023-02-03 A & B\n\nx <b>not bold</b>\n\nsecond"
        );
        assert_eq!(
            r.link.as_deref(),
            Some("http://www.example.org/a?utm_source=rss")
        );
    }
}
