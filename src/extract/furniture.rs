//! Paragraphs that are page furniture rather than the article, told by their words alone: time
//! stamps, bylines, photo credits, and lines made of interface words. Each test looks at one
//! short paragraph; prose is never this short and this uniform. The words are English: pages
//! in other languages keep such lines.

use super::Cleanup;

/// Words that make a line of numbers a date: months, weekdays, and the labels of time stamps.
const DATE_WORDS: &[&str] = &[
    "jan",
    "january",
    "feb",
    "february",
    "mar",
    "march",
    "apr",
    "april",
    "may",
    "jun",
    "june",
    "jul",
    "july",
    "aug",
    "august",
    "sep",
    "sept",
    "september",
    "oct",
    "october",
    "nov",
    "november",
    "dec",
    "december",
    "mon",
    "monday",
    "tue",
    "tues",
    "tuesday",
    "wed",
    "wednesday",
    "thu",
    "thur",
    "thurs",
    "thursday",
    "fri",
    "friday",
    "sat",
    "saturday",
    "sun",
    "sunday",
    "today",
    "yesterday",
    "published",
    "updated",
    "posted",
    "modified",
    "ago",
];

/// Other words a time stamp may hold: of the clock, time zones, and little words around them.
const CLOCK_WORDS: &[&str] = &[
    "am",
    "pm",
    "a",
    "p",
    "m",
    "est",
    "edt",
    "cst",
    "cdt",
    "mst",
    "mdt",
    "pst",
    "pdt",
    "et",
    "ct",
    "pt",
    "gmt",
    "utc",
    "bst",
    "cet",
    "cest",
    "ist",
    "hst",
    "first",
    "last",
    "original",
    "originally",
    "on",
    "at",
    "of",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
];

/// Words of sharing, subscription and navigation widgets.
const INTERFACE_WORDS: &[&str] = &[
    "share",
    "tweet",
    "email",
    "e",
    "mail",
    "facebook",
    "twitter",
    "whatsapp",
    "pinterest",
    "pint",
    "linkedin",
    "reddit",
    "flipboard",
    "submit",
    "print",
    "comment",
    "comments",
    "post",
    "advert",
    "advertisement",
    "advertising",
    "subscribe",
    "sign",
    "up",
    "in",
    "log",
    "login",
    "loading",
    "content",
    "enlarge",
    "image",
    "read",
    "more",
    "close",
    "caption",
    "menu",
    "next",
    "previous",
    "skip",
    "ad",
    "ads",
    "to",
    "the",
    "this",
    "story",
    "article",
    "link",
    "copy",
];

/// Words at most in a line these tests look at.
const SHORT: usize = 20;

/// Words at most in a line of interface words.
const INTERFACE_LINE: usize = 6;

/// Words at most in a photo credit.
const CREDIT_LINE: usize = 10;

/// Whether `paragraph` is furniture by one of the tests `rules` turns on.
pub fn is_furniture(paragraph: &str, rules: Cleanup) -> bool {
    let words = words(paragraph);
    if words.is_empty() || words.len() > SHORT {
        return false;
    }
    (rules.time_stamps && is_time_stamp(&words))
        || (rules.byline_lines && is_byline(paragraph))
        || (rules.credit_lines && is_credit(paragraph, &words))
        || (rules.interface_lines
            && words.len() <= INTERFACE_LINE
            && words.iter().all(|w| INTERFACE_WORDS.contains(&w.as_str())))
}

/// Lower-cased runs of letters and digits.
fn words(paragraph: &str) -> Vec<String> {
    paragraph
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Numbers and time words only, with a number and a date word among them: "Nov. 20, 2019,
/// 9:28 AM UTC". A time alone ("4:14 p.m.", a live blog's heading) or a phone number is not.
fn is_time_stamp(words: &[String]) -> bool {
    let is_number = |w: &String| w.starts_with(|c: char| c.is_ascii_digit());
    let is_date_word = |w: &String| DATE_WORDS.contains(&w.as_str());
    words.iter().any(is_number)
        && words.iter().any(is_date_word)
        && words
            .iter()
            .all(|w| is_number(w) || is_date_word(w) || CLOCK_WORDS.contains(&w.as_str()))
}

/// "By Justine Coleman - 11/18/19 11:04 PM EST": "By" and a name; "By the time ..." is prose.
fn is_byline(paragraph: &str) -> bool {
    let mut parts = paragraph.split_whitespace();
    matches!(parts.next(), Some("By" | "BY" | "by"))
        && parts
            .next()
            .is_some_and(|name| name.starts_with(char::is_uppercase))
}

/// A photo credit: "© Aaron Schwartz", "(Image: © NASA)", "Photo: Damian Dovarganes, AP",
/// "Natalie Naccache | Bloomberg | Getty Images".
fn is_credit(paragraph: &str, words: &[String]) -> bool {
    const STARTS: &[&str] = &[
        "©",
        "(©",
        "(Image",
        "Image:",
        "Photo:",
        "Photograph:",
        "Credit:",
        "Credit...",
    ];
    words.len() <= CREDIT_LINE
        && (STARTS.iter().any(|s| paragraph.starts_with(s))
            || paragraph.ends_with("Getty Images")
            || paragraph.ends_with("Getty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn furniture(paragraph: &str) -> bool {
        is_furniture(paragraph, Cleanup::ALL)
    }

    #[test]
    fn time_stamps() {
        for line in [
            "Updated 1:39 am EST, Wednesday, November 20, 2019",
            "Nov. 20, 2019, 9:28 AM UTC",
            "PUBLISHED: 10:48, Tue, Nov 19, 2019",
            "Published 1 day ago",
        ] {
            assert!(furniture(line), "{line}");
        }
        for line in [
            "4:14 p.m.",
            "02-751-1500",
            "June 9 -- Coral Sky Amphitheatre, FL",
            "May 2019 was wet.",
        ] {
            assert!(!furniture(line), "{line}");
        }
    }

    #[test]
    fn bylines_credits_and_interface_words() {
        for line in [
            "By Justine Coleman - 11/18/19 11:04 PM EST",
            "BY JANE ROE",
            "© Aaron Schwartz",
            "(Image: © NASA/ESA/K. Retherford/SWRI)",
            "Natalie Naccache | Bloomberg | Getty Images",
            "Share Tweet Submit",
            "Comments",
            "Loading content ...",
        ] {
            assert!(furniture(line), "{line}");
        }
        for line in [
            "By the time we arrived, it was over.",
            "By 2030 the line will be electric.",
            "Read the report and share it with the council before the vote on Monday.",
            "© signs were everywhere on the walls of the old printing house, a reminder of who owned what.",
        ] {
            assert!(!furniture(line), "{line}");
        }
        assert!(!is_furniture("Comments", Cleanup::NONE));
    }
}
