//! The Liberty syntax as `nom` functions named after the productions of the Liberty reference
//! manual's file structure: a file is one `group`; a group holds `statement`s, each a
//! `simple_attribute` (`name : value ;`), a `complex_attribute` (`name ( values ) ;`) or a nested
//! `group` (`name ( values ) { statements }`).
//!
//! Every rule skips leading white space, comments (`/* */`, `//`) and line continuations (`\` at
//! the end of a line) itself (via [`ws`]). One word of look-ahead decides every statement, so the
//! rules fail with `Failure` as soon as something unexpected is seen; the error keeps the exact
//! position and what was expected there.

use nom::{IResult, InputTake};
use nom_locate::LocatedSpan;

use super::ast::{Group, Loc, Statement, Value};

/// Parser input: the source text with its byte offset and line.
pub type In<'a> = LocatedSpan<&'a str>;
/// A parser's result: the remaining input and a `T`, or a [`SyntaxError`].
pub type PResult<'a, T> = IResult<In<'a>, T, SyntaxError<'a>>;

/// Groups nested deeper than this are refused (stack safety on hostile input; real libraries
/// nest five deep: library, cell, pin, timing, table).
pub const MAX_DEPTH: usize = 64;

/// A syntax error: where, and what the parser expected there.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError<'a> {
    /// The input where the error was found.
    pub at: In<'a>,
    /// What the parser expected there (e.g. "':' or '('").
    pub expected: &'static str,
}

impl<'a> nom::error::ParseError<In<'a>> for SyntaxError<'a> {
    fn from_error_kind(input: In<'a>, _kind: nom::error::ErrorKind) -> Self {
        SyntaxError { at: input, expected: "valid syntax" }
    }
    fn append(_input: In<'a>, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

fn fail<'a, T>(at: In<'a>, expected: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Failure(SyntaxError { at, expected }))
}

fn loc(i: &In) -> Loc {
    Loc { offset: i.location_offset() as u32, line: i.location_line() }
}

fn peek(i: &In) -> Option<u8> {
    i.fragment().as_bytes().first().copied()
}

/// Skip white space, `/* */` and `//` comments, and `\` line continuations.
pub fn ws(i: In) -> PResult<()> {
    let b = i.fragment().as_bytes();
    let mut k = 0;
    loop {
        while k < b.len() && b[k].is_ascii_whitespace() {
            k += 1;
        }
        let rest = &b[k..];
        if rest.starts_with(b"/*") {
            match memchr::memmem::find(&rest[2..], b"*/") {
                Some(p) => k += p + 4,
                None => return fail(i.take_split(k).0, "'*/' closing the comment"),
            }
        } else if rest.starts_with(b"//") {
            k = memchr::memchr(b'\n', rest).map_or(b.len(), |p| k + p);
        } else if rest.first() == Some(&b'\\')
            && rest[1..].iter().find(|c| !matches!(**c, b' ' | b'\t' | b'\r')) == Some(&b'\n')
        {
            k += 1;
        } else {
            break;
        }
    }
    Ok((i.take_split(k).0, ()))
}

/// Bytes that end a bare word.
fn is_delimiter(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b',' | b';' | b':' | b'(' | b')' | b'{' | b'}' | b'"' | b'\\')
}

/// `identifier`: a group or attribute name (letters, digits, `_`, `.`; not starting with a digit).
pub fn identifier(i: In) -> PResult<(String, Loc)> {
    let (i, _) = ws(i)?;
    let b = i.fragment().as_bytes();
    if b.is_empty() || !(b[0].is_ascii_alphabetic() || b[0] == b'_') {
        return fail(i, "a group or attribute name");
    }
    let n = 1 + b[1..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'.').count();
    let l = loc(&i);
    let (rest, word) = i.take_split(n);
    Ok((rest, (word.fragment().to_string(), l)))
}

/// `value`: a quoted string or a bare word (a number, a name, an expression without spaces).
pub fn value(i: In) -> PResult<Value> {
    let (i, _) = ws(i)?;
    let l = loc(&i);
    let b = i.fragment().as_bytes();
    if b.first() == Some(&b'"') {
        let mut k = 1;
        while k < b.len() && b[k] != b'"' {
            k += if b[k] == b'\\' && k + 1 < b.len() { 2 } else { 1 };
        }
        if k >= b.len() {
            return fail(i, "'\"' closing the string");
        }
        let text = i.fragment()[1..k].to_string();
        return Ok((i.take_split(k + 1).0, Value { text, quoted: true, loc: l }));
    }
    let n = b.iter().take_while(|c| !is_delimiter(**c)).count();
    if n == 0 {
        return fail(i, "a value");
    }
    let (rest, word) = i.take_split(n);
    Ok((rest, Value { text: word.fragment().to_string(), quoted: false, loc: l }))
}

fn symbol<'a>(i: In<'a>, c: u8, expected: &'static str) -> PResult<'a, ()> {
    let (i, _) = ws(i)?;
    if peek(&i) == Some(c) {
        Ok((i.take_split(1).0, ()))
    } else {
        fail(i, expected)
    }
}

fn opt_symbol(i: In, c: u8) -> PResult<bool> {
    let (j, _) = ws(i)?;
    if peek(&j) == Some(c) {
        Ok((j.take_split(1).0, true))
    } else {
        Ok((i, false))
    }
}

/// `( value, value, … )`: the values of a group header or complex attribute (commas optional).
pub fn arguments(i: In) -> PResult<Vec<Value>> {
    let (mut i, _) = symbol(i, b'(', "'('")?;
    let mut vs = Vec::new();
    loop {
        let (j, _) = ws(i)?;
        match peek(&j) {
            Some(b')') => return Ok((j.take_split(1).0, vs)),
            Some(b',') if !vs.is_empty() => i = j.take_split(1).0,
            None => return fail(j, "')'"),
            _ => {
                let (j, v) = value(j).map_err(|e| match e {
                    nom::Err::Failure(e) if e.expected == "a value" => {
                        nom::Err::Failure(SyntaxError { at: e.at, expected: "a value, ',' or ')'" })
                    }
                    e => e,
                })?;
                vs.push(v);
                i = j;
            }
        }
    }
}

/// `statement`: a simple attribute, a complex attribute or a group (`depth` = enclosing groups).
pub fn statement(i: In, depth: usize) -> PResult<Statement> {
    let (i, (name, l)) = identifier(i)?;
    let (j, _) = ws(i)?;
    match peek(&j) {
        Some(b':') => {
            let (j, value) = value(j.take_split(1).0)?;
            let (j, _) = opt_symbol(j, b';')?;
            Ok((j, Statement::Simple { name, value, loc: l }))
        }
        Some(b'(') => {
            let (j, args) = arguments(j)?;
            let (k, _) = ws(j)?;
            if peek(&k) == Some(b'{') {
                let (k, body) = group_body(k, depth + 1)?;
                Ok((k, Statement::Group(Group { kind: name, args, body, loc: l })))
            } else {
                let (k, _) = opt_symbol(j, b';')?;
                Ok((k, Statement::Complex { name, args, loc: l }))
            }
        }
        _ => fail(j, "':' or '('"),
    }
}

/// `{ statement* }` (an optional `;` after the closing brace is accepted).
fn group_body(i: In, depth: usize) -> PResult<Vec<Statement>> {
    if depth > MAX_DEPTH {
        return fail(i, "fewer nested groups (at most 64)");
    }
    let (mut i, _) = symbol(i, b'{', "'{'")?;
    let mut body = Vec::new();
    loop {
        let (j, _) = ws(i)?;
        match peek(&j) {
            Some(b'}') => {
                let (k, _) = opt_symbol(j.take_split(1).0, b';')?;
                return Ok((k, body));
            }
            None => return fail(j, "a statement or '}'"),
            _ => {
                let (k, s) = statement(j, depth).map_err(|e| match e {
                    nom::Err::Failure(e) if e.expected == "a group or attribute name" => {
                        nom::Err::Failure(SyntaxError { at: e.at, expected: "a statement or '}'" })
                    }
                    e => e,
                })?;
                body.push(s);
                i = k;
            }
        }
    }
}

/// `library_file`: one group (normally `library (name) { … }`) and nothing after it.
pub fn library_file(i: In) -> PResult<Group> {
    let (i, (kind, l)) = identifier(i)?;
    let (i, args) = arguments(i)?;
    let (i, body) = group_body(i, 1)?;
    let (i, _) = ws(i)?;
    if !i.fragment().is_empty() {
        return fail(i, "end of file after the library group");
    }
    Ok((i, Group { kind, args, body, loc: l }))
}

/// Parse a whole file; on failure, the error position and what was expected there.
pub fn parse_source(src: &str) -> Result<Group, SyntaxError<'_>> {
    match library_file(In::new(src)) {
        Ok((_, g)) => Ok(g),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
        Err(nom::Err::Incomplete(_)) => Err(SyntaxError { at: In::new(src), expected: "complete input" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_offset(src: &str) -> (usize, &'static str) {
        let e = parse_source(src).unwrap_err();
        (e.at.location_offset(), e.expected)
    }

    #[test]
    fn statements_of_each_form() {
        let g = parse_source(
            "library(x) {\n  time_unit : \"1ns\" ;\n  capacitive_load_unit (1,pf);\n  /* c */ cell (A) { area : 2.5; }\n\
             values ( \\\n \"1, 2\", \\\n \"3, 4\");\n}",
        )
        .unwrap();
        assert_eq!(g.kind, "library");
        assert_eq!(g.args[0].text, "x");
        assert_eq!(g.simple("time_unit").map(|v| (v.text.as_str(), v.quoted)), Some(("1ns", true)));
        match &g.body[1] {
            Statement::Complex { name, args, .. } => {
                assert_eq!(name, "capacitive_load_unit");
                assert_eq!(args.iter().map(|v| v.text.as_str()).collect::<Vec<_>>(), ["1", "pf"]);
            }
            s => panic!("{s:?}"),
        }
        let cell = g.groups("cell").next().unwrap();
        assert_eq!(cell.simple("area").unwrap().text, "2.5");
        assert_eq!(cell.loc.line, 4);
        match &g.body[3] {
            Statement::Complex { args, .. } => assert_eq!(args.len(), 2),
            s => panic!("{s:?}"),
        }
        assert_eq!(g.count_statements(), 5);
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        assert_eq!(err_offset("library(x) { a = 1; }"), (15, "':' or '('"));
        assert_eq!(err_offset("library(x) { a : 1; "), (20, "a statement or '}'"));
        assert_eq!(err_offset("library(x) { a (1 ; }"), (18, "a value, ',' or ')'"));
        assert_eq!(err_offset("library(x) { a : \"1; }"), (17, "'\"' closing the string"));
        assert_eq!(err_offset("library(x) { } extra"), (15, "end of file after the library group"));
        assert_eq!(err_offset("library(x) { /* }"), (13, "'*/' closing the comment"));
        assert_eq!(err_offset("library(x) { 9 : 1; }"), (13, "a statement or '}'"));
        let deep = format!("library(x) {{{}{}", "g() {".repeat(100), "}".repeat(101));
        assert_eq!(err_offset(&deep).1, "fewer nested groups (at most 64)");
    }

    #[test]
    fn printed_text_parses_back_to_the_same_tree() {
        let src = "library(x){a:1;b(\"p, q\",r);cell(C){pin(A){direction:input;}}}";
        let g = parse_source(src).unwrap();
        let text = g.to_string();
        let back = parse_source(&text).unwrap();
        assert_eq!(back.to_string(), text);
        assert_eq!(back.count_statements(), g.count_statements());
    }
}
