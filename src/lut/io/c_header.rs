//! Reading an AdaPT-style C header: the first two-dimensional array
//! `[static] [const] INT_TYPE NAME [2^R][2^C] = { {..}, .. };` (nested rows, or one flat list),
//! entries in decimal or hex with an optional sign and `u`/`l` suffixes. Comments and
//! preprocessor lines are skipped; the comment [`super::to_c_header`] writes is read back for the
//! name, signedness and power. Errors point at `file:line:col`.

use super::{HeaderInfo, LutIoError, RawTable};
use crate::util::error::Span;
use std::path::Path;

/// C integer type words; anything else before the array name (float, double, a struct) is refused.
const INT_WORDS: [&str; 17] = [
    "static",
    "const",
    "unsigned",
    "signed",
    "char",
    "short",
    "int",
    "long",
    "int8_t",
    "int16_t",
    "int32_t",
    "int64_t",
    "uint8_t",
    "uint16_t",
    "uint32_t",
    "uint64_t",
    "constexpr",
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Num(i64),
    Punct(char),
}

struct Lexer<'a> {
    path: &'a Path,
    src: &'a [u8],
    at: usize,
    line: u32,
    col: u32,
    /// Text of every `/* */` and `//` comment, in order (for the header metadata).
    comments: Vec<String>,
}

impl<'a> Lexer<'a> {
    fn span(&self) -> Span {
        Span::new(self.path, self.line, self.col)
    }

    fn err(&self, span: Span, msg: impl Into<String>) -> LutIoError {
        LutIoError::Syntax { span, msg: msg.into() }
    }

    fn bump(&mut self) -> u8 {
        let c = self.src[self.at];
        self.at += 1;
        if c == b'\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        c
    }

    fn peek(&self, k: usize) -> Option<u8> {
        self.src.get(self.at + k).copied()
    }

    /// Skip whitespace, comments and preprocessor lines.
    fn skip(&mut self) -> Result<(), LutIoError> {
        let mut line_start = self.at == 0;
        while let Some(c) = self.peek(0) {
            match c {
                b'\n' => {
                    self.bump();
                    line_start = true;
                }
                c if c.is_ascii_whitespace() => {
                    self.bump();
                }
                b'#' if line_start => {
                    while self.peek(0).is_some_and(|c| c != b'\n') {
                        self.bump();
                    }
                }
                b'/' if self.peek(1) == Some(b'/') => {
                    let s = self.at;
                    while self.peek(0).is_some_and(|c| c != b'\n') {
                        self.bump();
                    }
                    self.comments.push(String::from_utf8_lossy(&self.src[s + 2..self.at]).into_owned());
                }
                b'/' if self.peek(1) == Some(b'*') => {
                    let open = self.span();
                    let s = self.at;
                    self.bump();
                    self.bump();
                    loop {
                        match self.peek(0) {
                            None => return Err(self.err(open, "comment never closed")),
                            Some(b'*') if self.peek(1) == Some(b'/') => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            Some(_) => {
                                self.bump();
                            }
                        }
                    }
                    self.comments.push(String::from_utf8_lossy(&self.src[s + 2..self.at - 2]).into_owned());
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// The next token and where it starts; `None` at the end of the file.
    fn next(&mut self) -> Result<Option<(Tok, Span)>, LutIoError> {
        self.skip()?;
        let span = self.span();
        let Some(c) = self.peek(0) else { return Ok(None) };
        if c.is_ascii_alphabetic() || c == b'_' {
            let s = self.at;
            while self.peek(0).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                self.bump();
            }
            return Ok(Some((Tok::Word(String::from_utf8_lossy(&self.src[s..self.at]).into_owned()), span)));
        }
        if c.is_ascii_digit() || ((c == b'-' || c == b'+') && self.peek(1).is_some_and(|d| d.is_ascii_digit())) {
            let neg = c == b'-';
            if c == b'-' || c == b'+' {
                self.bump();
            }
            let s = self.at;
            while self.peek(0).is_some_and(|c| c.is_ascii_alphanumeric()) {
                self.bump();
            }
            let text = String::from_utf8_lossy(&self.src[s..self.at]).into_owned();
            let digits = text.trim_end_matches(['u', 'U', 'l', 'L']);
            let v = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16),
                None => digits.parse::<i64>(),
            }
            .map_err(|_| self.err(span.clone(), format!("'{text}' is not an integer")))?;
            return Ok(Some((Tok::Num(if neg { -v } else { v }), span)));
        }
        self.bump();
        Ok(Some((Tok::Punct(c as char), span)))
    }

    fn expect_next(&mut self, what: &str) -> Result<(Tok, Span), LutIoError> {
        match self.next()? {
            Some(t) => Ok(t),
            None => Err(self.err(self.span(), format!("file ends where {what} was expected"))),
        }
    }
}

/// Name, signedness and power from the comment axdnn writes
/// (`NAME: RxC signed|unsigned multiplier table generated by axdnn.` … `PDK45 power P mW`).
fn header_info(comments: &[String]) -> HeaderInfo {
    let Some(c) = comments.iter().find(|c| c.contains("multiplier table generated by axdnn")) else {
        return HeaderInfo::default();
    };
    let c = c.trim_start();
    let name =
        c.split(':').next().map(|s| s.trim().to_string()).filter(|s| !s.is_empty() && !s.contains(char::is_whitespace));
    let signed = if c.contains(" unsigned multiplier table") {
        Some(false)
    } else if c.contains(" signed multiplier table") {
        Some(true)
    } else {
        None
    };
    let power_mw =
        c.split("PDK45 power ").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|v| v.parse::<f64>().ok());
    HeaderInfo { name, signed, power_mw }
}

/// The first 2-D integer array of a C header, entries as written.
pub fn read_raw(path: &Path) -> Result<RawTable, LutIoError> {
    let src = std::fs::read(path).map_err(super::io_err(path))?;
    let mut lx = Lexer { path, src: &src, at: 0, line: 1, col: 1, comments: Vec::new() };
    // Declaration: words, then NAME [R][C] =. Statements before it (other declarations) are skipped.
    let mut words: Vec<(String, Span)> = Vec::new();
    let dims = loop {
        let Some((t, sp)) = lx.next()? else {
            return Err(LutIoError::Shape {
                path: path.into(),
                found: "no 2-D array".into(),
                expected: "an array NAME[2^R][2^C] = {..}".into(),
            });
        };
        match t {
            Tok::Word(w) => words.push((w, sp)),
            Tok::Punct('[') if !words.is_empty() => {
                let mut dims = Vec::new();
                let mut tok = Tok::Punct('[');
                let mut at = sp;
                while tok == Tok::Punct('[') {
                    let (n, nsp) = lx.expect_next("an array dimension")?;
                    let Tok::Num(n) = n else { return Err(lx.err(nsp, "array dimension must be an integer literal")) };
                    match lx.expect_next("']'")? {
                        (Tok::Punct(']'), _) => {}
                        (_, s) => return Err(lx.err(s, "expected ']'")),
                    }
                    dims.push((n, nsp));
                    (tok, at) = lx.expect_next("'=' or '['")?;
                }
                if tok != Tok::Punct('=') {
                    return Err(lx.err(at, "expected '=' after the array dimensions"));
                }
                if dims.len() == 2 {
                    break dims;
                }
                // Another array (e.g. 1-D): skip its initializer.
                while !matches!(lx.expect_next("';'")?.0, Tok::Punct(';')) {}
                words.clear();
            }
            Tok::Punct(';') => words.clear(),
            Tok::Punct(_) | Tok::Num(_) => words.clear(),
        }
    };
    let (name, name_span) = words.pop().expect("a word precedes '['");
    if let Some((w, sp)) = words.iter().find(|(w, _)| !INT_WORDS.contains(&w.as_str())) {
        return Err(LutIoError::Syntax {
            span: sp.clone(),
            msg: format!("array {name} has element type '{w}'; an integer type is needed"),
        });
    }
    if words.is_empty() {
        return Err(LutIoError::Syntax { span: name_span, msg: format!("array {name} has no element type") });
    }
    let [(rows, rsp), (cols, csp)] = &dims[..] else { unreachable!("the loop stops at a 2-D array") };
    let bits = |n: i64, sp: &Span| -> Result<u32, LutIoError> {
        if n > 0 && (n as u64).is_power_of_two() && n <= 1 << 12 {
            Ok((n as u64).trailing_zeros())
        } else {
            Err(LutIoError::Syntax {
                span: sp.clone(),
                msg: format!("dimension {n} of {name} is not a power of two up to 4096"),
            })
        }
    };
    let (rb, cb) = (bits(*rows, rsp)?, bits(*cols, csp)?);
    let (rows, cols) = (*rows as usize, *cols as usize);
    let values = initializer(&mut lx, &name, rows, cols)?;
    let header = header_info(&lx.comments);
    Ok(RawTable { row_bits: rb, col_bits: cb, values, patterns16: false, header })
}

/// `{ {..}, .. }` with `rows` rows of `cols` entries, or one flat list of `rows·cols` entries,
/// then `;`.
fn initializer(lx: &mut Lexer, name: &str, rows: usize, cols: usize) -> Result<Vec<i64>, LutIoError> {
    let (t, sp) = lx.expect_next("'{'")?;
    if t != Tok::Punct('{') {
        return Err(lx.err(sp, format!("expected '{{' to start the entries of {name}")));
    }
    let mut values = Vec::with_capacity(rows * cols);
    let mut row_starts = 0usize;
    let mut depth = 1;
    loop {
        let (t, sp) = lx.expect_next("an entry or '}'")?;
        match t {
            Tok::Num(v) => {
                if depth == 2 && values.len() - (row_starts - 1) * cols >= cols {
                    return Err(lx.err(sp, format!("row {} of {name} has more than {cols} entries", row_starts - 1)));
                }
                values.push(v);
                if values.len() > rows * cols {
                    return Err(lx.err(sp, format!("{name} has more than {rows}x{cols} entries")));
                }
            }
            Tok::Punct(',') => {}
            Tok::Punct('{') if depth == 1 => {
                if values.len() != row_starts * cols {
                    return Err(lx.err(sp, format!("row {row_starts} of {name} mixes nested and flat entries")));
                }
                if row_starts == rows {
                    return Err(lx.err(sp, format!("{name} has more than {rows} rows")));
                }
                row_starts += 1;
                depth = 2;
            }
            Tok::Punct('}') if depth == 2 => {
                let got = values.len() - (row_starts - 1) * cols;
                if got != cols {
                    return Err(
                        lx.err(sp, format!("row {} of {name} has {got} entries, expected {cols}", row_starts - 1))
                    );
                }
                depth = 1;
            }
            Tok::Punct('}') => break,
            other => return Err(lx.err(sp, format!("unexpected {other:?} in the entries of {name}"))),
        }
    }
    if values.len() != rows * cols {
        return Err(
            lx.err(lx.span(), format!("{name} has {} entries, expected {rows}x{cols} = {}", values.len(), rows * cols))
        );
    }
    match lx.next()? {
        Some((Tok::Punct(';'), _)) => Ok(values),
        Some((_, sp)) => Err(lx.err(sp, "expected ';' after the array")),
        None => Err(lx.err(lx.span(), "file ends where ';' was expected")),
    }
}
