//! Text from the broker (controllers' error lists, other operators' commands) shown to people
//! on a terminal: control characters are escaped, so that a reply cannot move the cursor,
//! clear the screen, retitle the window or ring the bell. JSON output needs nothing more:
//! serde_json escapes C0 controls, and scripts read it, not terminals.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every control character (C0, DEL, C1) written as `\u{..}`.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_bells_are_shown_not_run() {
        assert_eq!(
            shown("\u{1b}[2Jflash failed\u{7}"),
            "\\u{1b}[2Jflash failed\\u{7}"
        );
        assert_eq!(shown("\u{9b}31m red \u{7f}"), "\\u{9b}31m red \\u{7f}");
        assert_eq!(shown("line\nbreak\r"), "line\\u{a}break\\u{d}");
        assert!(matches!(
            shown("plain: checksum mismatch"),
            Cow::Borrowed(_)
        ));
        assert_eq!(shown("Café ünïcode"), "Café ünïcode");
    }
}
