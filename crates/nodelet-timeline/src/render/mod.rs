//! Drawing a [`crate::Layout`]: an SVG picture, and an HTML page around it
//! with the list of marks.

pub mod html;
pub mod svg;

pub use html::html;
pub use svg::svg;

/// Escapes text for XML/HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A timestamp as the `data-*` attributes carry it (RFC 3339, ms).
pub fn stamp(t: jiff::Timestamp) -> String {
    t.round(jiff::Unit::Millisecond).unwrap_or(t).to_string()
}
