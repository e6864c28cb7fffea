//! Managing the list of sources from the command line (`import`, `export-opml`, `add`,
//! `remove`, `pause`, `resume`): the configuration file stays the one source of truth, edited
//! in place (`config_file`); OPML read and written (`opml`); a web page's feed found
//! (`discover`); and the commands themselves (`manage`).

pub mod config_file;
pub mod discover;
pub mod manage;
pub mod opml;
