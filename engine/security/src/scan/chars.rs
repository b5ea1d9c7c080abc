//! Character classes for the scanner: which characters are invisible (and what kind of
//! invisible), which are right-to-left, and how normalisation folds a single character
//! (case, accents, homoglyphs, fullwidth and mathematical forms, tag characters).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Invisible {
    /// U+200B..U+200D, U+2060..U+2064, U+FEFF and fillers that render as nothing.
    ZeroWidth,
    /// U+E0000..U+E007F.
    Tag,
    /// Overrides U+202D/U+202E.
    BidiOverride,
    /// Embeddings, pops and isolates: U+202A..U+202C, U+2066..U+2069.
    BidiOther,
    /// LRM, RLM, ALM: ordinary in right-to-left text.
    BidiMark,
    /// U+FE00..U+FE0F and U+E0100..U+E01EF.
    VariationSelector,
    /// Soft hyphen, grapheme joiner and other format characters.
    Other,
}

pub(super) fn invisible(c: char) -> Option<Invisible> {
    Some(match c as u32 {
        0x200B..=0x200D | 0x2060..=0x2064 | 0xFEFF | 0x180E | 0x115F | 0x1160 | 0x3164 | 0xFFA0 | 0x17B4 | 0x17B5 => {
            Invisible::ZeroWidth
        }
        0xE0000..=0xE007F => Invisible::Tag,
        0x202D | 0x202E => Invisible::BidiOverride,
        0x202A..=0x202C | 0x2066..=0x2069 => Invisible::BidiOther,
        0x200E | 0x200F | 0x061C => Invisible::BidiMark,
        0xFE00..=0xFE0F | 0xE0100..=0xE01EF | 0x180B..=0x180D | 0x180F => Invisible::VariationSelector,
        0x00AD | 0x034F | 0x2065 | 0x206A..=0x206F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A => Invisible::Other,
        _ => return None,
    })
}

pub(super) fn is_rtl(c: char) -> bool {
    matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFC | 0x10800..=0x10FFF | 0x1E800..=0x1EFFF)
}

/// What normalisation does with one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fold {
    Skip,
    Space {
        newline: bool,
    },
    Char(char),
    /// A tag character, decoded to the ASCII it encodes.
    Tag(char),
}

pub(super) fn fold(c: char) -> Fold {
    if c.is_ascii() {
        return match c {
            '\n' | '\r' | '\x0b' | '\x0c' => Fold::Space { newline: true },
            ' ' | '\t' => Fold::Space { newline: false },
            c if c.is_ascii_control() => Fold::Skip,
            c => Fold::Char(c.to_ascii_lowercase()),
        };
    }
    if let Some(kind) = invisible(c) {
        return match (kind, c as u32) {
            (Invisible::Tag, cp @ 0xE0020..=0xE007E) => {
                Fold::Tag(char::from(u8::try_from(cp - 0xE0000).unwrap_or(b' ')).to_ascii_lowercase())
            }
            _ => Fold::Skip,
        };
    }
    if c.is_whitespace() {
        return Fold::Space { newline: matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') };
    }
    if matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F) {
        return Fold::Skip;
    }
    if let Some(a) = lookalike(c) {
        return Fold::Char(a);
    }
    let mut lower = c.to_lowercase();
    let l = match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    };
    Fold::Char(lookalike(l).unwrap_or(l))
}

/// Base letters for U+00C0..U+017F (`-`: no ASCII base).
const LATIN_FOLD: &[u8; 192] = b"aaaaaa-ceeeeiiiidnooooo-ouuuuy--aaaaaa-ceeeeiiiidnooooo-ouuuuy-y\
aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii--jjkkklllllll\
lllnnnnnnnnnoooooo--rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/// The ASCII character `c` imitates, if it is a known lookalike.
fn lookalike(c: char) -> Option<char> {
    let cp = c as u32;
    let from_offset = |base: u32| char::from_u32(u32::from(b'a') + (cp - base));
    let mapped = match cp {
        0xFF01..=0xFF5E => char::from_u32(cp - 0xFEE0).map(|a| a.to_ascii_lowercase()),
        0x00C0..=0x017F => Some(char::from(LATIN_FOLD[(cp - 0xC0) as usize])).filter(|&a| a != '-'),
        0x1D400..=0x1D6A3 => char::from_u32(u32::from(b'a') + ((cp - 0x1D400) % 52) % 26),
        0x1D6A4 => Some('i'),
        0x1D6A5 => Some('j'),
        0x1D7CE..=0x1D7FF => char::from_u32(u32::from(b'0') + (cp - 0x1D7CE) % 10),
        0x24B6..=0x24CF => from_offset(0x24B6),
        0x24D0..=0x24E9 => from_offset(0x24D0),
        0x249C..=0x24B5 => from_offset(0x249C),
        0x1F130..=0x1F149 => from_offset(0x1F130),
        0x1F150..=0x1F169 => from_offset(0x1F150),
        0x1F170..=0x1F189 => from_offset(0x1F170),
        _ => None,
    };
    if mapped.is_some() {
        return mapped;
    }
    Some(match c {
        // Cyrillic (upper case first where it differs from the lower-case lookalike).
        'А' | 'а' => 'a',
        'В' | 'в' => 'b',
        'Е' | 'е' | 'Ё' | 'ё' => 'e',
        'К' | 'к' => 'k',
        'М' | 'м' => 'm',
        'Н' | 'н' | 'Һ' | 'һ' => 'h',
        'О' | 'о' => 'o',
        'П' | 'п' => 'n',
        'Р' | 'р' => 'p',
        'С' | 'с' => 'c',
        'Т' | 'т' => 't',
        'У' | 'у' | 'Ү' | 'ү' => 'y',
        'Х' | 'х' => 'x',
        'Ѕ' | 'ѕ' => 's',
        'І' | 'і' | 'Ї' | 'ї' | 'Ӏ' | 'ӏ' => 'i',
        'Ј' | 'ј' => 'j',
        'Ԁ' | 'ԁ' => 'd',
        'Ԛ' | 'ԛ' => 'q',
        'Ԝ' | 'ԝ' => 'w',
        // Greek.
        'Α' | 'α' => 'a',
        'Β' | 'β' => 'b',
        'Γ' => 'r',
        'γ' => 'y',
        'Ε' | 'ε' => 'e',
        'Ζ' | 'ζ' => 'z',
        'Η' => 'h',
        'η' => 'n',
        'Ι' | 'ι' | 'ί' | 'ϊ' => 'i',
        'Κ' | 'κ' => 'k',
        'Μ' => 'm',
        'Ν' => 'n',
        'ν' => 'v',
        'Ο' | 'ο' | 'ό' => 'o',
        'Ρ' | 'ρ' => 'p',
        'Τ' | 'τ' => 't',
        'Υ' => 'y',
        'υ' => 'u',
        'Χ' | 'χ' => 'x',
        'ω' => 'w',
        'ϲ' | 'Ϲ' => 'c',
        'ϳ' => 'j',
        // Armenian and other Latin lookalikes.
        'օ' => 'o',
        'ս' => 'u',
        'հ' => 'h',
        'ո' => 'n',
        'ɡ' => 'g',
        'ℓ' => 'l',
        'ⅰ' => 'i',
        'ⅼ' => 'l',
        'ⅽ' => 'c',
        'ⅾ' => 'd',
        'ⅿ' => 'm',
        'ⅴ' => 'v',
        'ⅹ' => 'x',
        // Small capitals.
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ꜰ' => 'f',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        // Punctuation.
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' | '\u{00B4}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '«' | '»' => '"',
        '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
        '\u{2024}' => '.',
        _ => return None,
    })
}
