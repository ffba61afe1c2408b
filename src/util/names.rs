//! One way to declare a name table: an enum whose variants have the names users type and read
//! (`asym-u8`, `ws`, `linf-pgd`, …). [`name_table!`](crate::name_table) writes `ALL`, `name`,
//! `Display` and `FromStr` from one list, so a name is spelled once and every parse error reads
//! alike: "unknown scheme 'x' (expected asym-u8, sign-magnitude or sym-s8)".

/// The error of a name that is not in the table: `what` names the kind of value.
pub fn unknown(what: &str, given: &str, names: &[&str]) -> String {
    let expected = match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    };
    format!("unknown {what} '{given}' (expected {expected})")
}

/// `name_table!(Type, "what": Variant = "name" | "alias", …)`: `Type::ALL` (declaration
/// order), `Type::name`, `Display` (the name) and `FromStr` (the name or an alias; otherwise
/// [`unknown`]).
#[macro_export]
macro_rules! name_table {
    ($ty:ident, $what:literal: $($var:ident = $name:literal $(| $alias:literal)*),+ $(,)?) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: [$ty; $crate::name_table!(@count $($var)+)] = [$($ty::$var),+];

            /// The name users type and read.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$var => $name,)+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name $(| $alias)* => Ok($ty::$var),)+
                    _ => Err($crate::util::names::unknown($what, s, &[$($name),+])),
                }
            }
        }
    };
    (@count) => { 0usize };
    (@count $x:ident $($xs:ident)*) => { 1usize + $crate::name_table!(@count $($xs)*) };
}

#[cfg(test)]
mod tests {
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum T {
        A,
        B,
        C,
    }
    crate::name_table!(T, "letter": A = "a" | "A", B = "b", C = "c");

    #[test]
    fn one_list_gives_all_names_parsing_and_errors() {
        assert_eq!(T::ALL, [T::A, T::B, T::C]);
        assert_eq!(T::B.to_string(), "b");
        assert_eq!("A".parse::<T>(), Ok(T::A));
        assert_eq!("d".parse::<T>(), Err("unknown letter 'd' (expected a, b or c)".to_string()));
        assert_eq!(super::unknown("x", "y", &["p"]), "unknown x 'y' (expected p)");
    }
}
