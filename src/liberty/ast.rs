//! What a Liberty file says, statement by statement, before any meaning is given to it: groups
//! (`cell (AND2X1) { … }`), simple attributes (`area : 2.3465;`) and complex attributes
//! (`index_1 ("0.1, 0.5");`), each with where it was written. Every statement of the file is kept,
//! in order; [`Group`]'s `Display` prints it back as Liberty text that parses to the same tree.

use std::fmt;

/// A cheap source location: byte offset and 1-based line (the column is computed only for errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    /// Byte offset from the start of the source text (0-based).
    pub offset: u32,
    /// Line number, 1-based.
    pub line: u32,
}

/// One value as written: a quoted string (quotes removed, the text between them kept verbatim) or
/// a bare word (`table_lookup`, `0.00229149`, `pf`).
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The text (for a string, without its quotes).
    pub text: String,
    /// Whether it was written in double quotes.
    pub quoted: bool,
    /// Where it starts (the opening quote for a string).
    pub loc: Loc,
}

/// `kind ( args ) { body }`: a library, cell, pin, timing, table, … group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The group's keyword (`library`, `cell`, `pin`, `rise_power`, …).
    pub kind: String,
    /// The values between the parentheses (a cell's name, a table's template, …).
    pub args: Vec<Value>,
    /// The statements between the braces, in file order.
    pub body: Vec<Statement>,
    /// Where the keyword starts.
    pub loc: Loc,
}

/// One statement inside a group.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `name : value ;`
    Simple {
        /// The attribute's name.
        name: String,
        /// Its value.
        value: Value,
        /// Where the name starts.
        loc: Loc,
    },
    /// `name ( value, … ) ;`
    Complex {
        /// The attribute's name.
        name: String,
        /// Its values.
        args: Vec<Value>,
        /// Where the name starts.
        loc: Loc,
    },
    /// A nested group.
    Group(Group),
}

impl Group {
    /// The simple attribute `name`'s value (the first if repeated).
    pub fn simple(&self, name: &str) -> Option<&Value> {
        self.body.iter().find_map(|s| match s {
            Statement::Simple { name: n, value, .. } if n == name => Some(value),
            _ => None,
        })
    }

    /// The nested groups of kind `kind`, in file order.
    pub fn groups<'g>(&'g self, kind: &'g str) -> impl Iterator<Item = &'g Group> + 'g {
        self.body.iter().filter_map(move |s| match s {
            Statement::Group(g) if g.kind == kind => Some(g),
            _ => None,
        })
    }

    /// Every statement of this group and of the groups inside it, the group itself excluded.
    pub fn count_statements(&self) -> usize {
        self.body.iter().map(|s| 1 + if let Statement::Group(g) = s { g.count_statements() } else { 0 }).sum()
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        let pad = "  ".repeat(depth);
        write!(f, "{pad}{} (", self.kind)?;
        write_values(f, &self.args)?;
        writeln!(f, ") {{")?;
        for s in &self.body {
            match s {
                Statement::Simple { name, value, .. } => {
                    write!(f, "{pad}  {name} : ")?;
                    write_values(f, std::slice::from_ref(value))?;
                    writeln!(f, ";")?;
                }
                Statement::Complex { name, args, .. } => {
                    write!(f, "{pad}  {name} (")?;
                    write_values(f, args)?;
                    writeln!(f, ");")?;
                }
                Statement::Group(g) => g.write(f, depth + 1)?,
            }
        }
        writeln!(f, "{pad}}}")
    }
}

fn write_values(f: &mut fmt::Formatter<'_>, vs: &[Value]) -> fmt::Result {
    for (k, v) in vs.iter().enumerate() {
        if k > 0 {
            write!(f, ", ")?;
        }
        if v.quoted {
            write!(f, "\"{}\"", v.text)?;
        } else {
            write!(f, "{}", v.text)?;
        }
    }
    Ok(())
}

/// Liberty text for the group (two-space indentation, one statement per line); parsing it gives
/// back the same tree (locations aside).
impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, 0)
    }
}
