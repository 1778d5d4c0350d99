//! Text from outside tessera (an endpoint's error message or header, a parser's complaint about
//! a body) made safe to print: control characters, which a terminal would act on, and bidi
//! overrides are replaced, and the length is capped.

/// What replaces a character that must not reach a terminal.
const REPLACEMENT: char = '\u{FFFD}';

/// Whether `c` changes how a terminal or a bidi-aware viewer shows the text around it.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` on one line: CR, LF and tab become spaces, every other control character (escape
/// sequences, C1 controls) and bidi override becomes U+FFFD; cut to `max_chars` characters with
/// a trailing `…`.
pub fn printable(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max_chars)
        .map(|c| match c {
            '\r' | '\n' | '\t' => ' ',
            c if is_unsafe(c) => REPLACEMENT,
            c => c,
        })
        .collect();
    if text.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

/// A Prometheus label value, escaped as the text format requires (`\\`, `\"`, `\n`), so no
/// name can add lines or labels to a scrape.
pub fn label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// An error and its causes on one line (`error: cause: root cause`), for warnings logged by the
/// library (the CLI prints its errors the same way).
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_cannot_break_out_of_their_quotes() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(label_value("plain"), "plain");
    }

    #[test]
    fn escape_sequences_and_line_breaks_are_replaced() {
        assert_eq!(
            printable("\u{1b}]0;owned\u{7}red\u{1b}[31m\r\nx\u{9b}y", 100),
            "\u{FFFD}]0;owned\u{FFFD}red\u{FFFD}[31m  x\u{FFFD}y"
        );
        assert_eq!(printable("a\u{202E}b", 10), "a\u{FFFD}b");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(printable("abcdef", 3), "abc…");
        assert_eq!(printable("abc", 3), "abc");
        assert_eq!(printable("Invalid signature", 200), "Invalid signature");
    }
}
