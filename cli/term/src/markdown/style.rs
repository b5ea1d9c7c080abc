//! SGR attributes and the output buffer that switches them lazily, right before the char
//! that needs them.

use super::*;

/// A set of SGR attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Style(pub(super) u8);

impl Style {
    pub(super) const PLAIN: Style = Style(0);
    pub(super) const BOLD: Style = Style(1);
    pub(super) const DIM: Style = Style(1 << 1);
    pub(super) const ITALIC: Style = Style(1 << 2);
    pub(super) const UNDERLINE: Style = Style(1 << 3);
    /// Code: cyan.
    pub(super) const CODE: Style = Style(1 << 4);

    /// Each attribute's SGR parameter, in the order they are written.
    pub(super) const PARAMS: [(Style, &'static str); 5] =
        [(Self::BOLD, "1"), (Self::DIM, "2"), (Self::ITALIC, "3"), (Self::UNDERLINE, "4"), (Self::CODE, "36")];

    pub(super) fn with(self, other: Style) -> Style {
        Style(self.0 | other.0)
    }

    pub(super) fn without(self, other: Style) -> Style {
        Style(self.0 & !other.0)
    }

    /// The SGR sequence that turns these attributes on.
    pub(super) fn sgr(self) -> String {
        let params: Vec<&str> = Self::PARAMS.iter().filter(|(s, _)| self.0 & s.0 != 0).map(|(_, p)| *p).collect();
        format!("\x1b[{}m", params.join(";"))
    }
}

/// The text to hand back, and the terminal's style after it. Styles are switched lazily,
/// right before the char that needs them, so nothing is styled for nothing.
#[derive(Debug, Default)]
pub(super) struct Out {
    pub(super) text: String,
    /// The attributes in effect after `text`.
    pub(super) shown: Style,
    /// Whether the current line has any SGR code: it then ends with a reset.
    pub(super) styled: bool,
}

impl Out {
    pub(super) fn write(&mut self, text: &str, style: Style) {
        if !text.is_empty() {
            self.switch(style);
            self.text.push_str(text);
        }
    }

    pub(super) fn write_char(&mut self, c: char, style: Style) {
        self.switch(style);
        self.text.push(c);
    }

    /// Adds the attributes missing if that is all it takes, else resets and sets them all.
    pub(super) fn switch(&mut self, style: Style) {
        if style == self.shown {
            return;
        }
        if self.shown.without(style) == Style::PLAIN {
            self.text.push_str(&style.without(self.shown).sgr());
        } else {
            self.text.push_str(RESET);
            if style != Style::PLAIN {
                self.text.push_str(&style.sgr());
            }
        }
        self.shown = style;
        self.styled = true;
    }

    /// Ends the line's styling: a reset if the line had any style.
    pub(super) fn end_line(&mut self) {
        if self.styled {
            self.text.push_str(RESET);
        }
        self.shown = Style::PLAIN;
        self.styled = false;
    }
}
