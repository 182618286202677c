//! Settings named in words (`replay = "all"`, `--replay all`): one table of names gives a type
//! both `FromStr`, for its flag and environment variable, and `Deserialize`, for the
//! configuration file, so both read the same names and refuse others with the same sentence.

/// `Deserialize` through the type's `FromStr`: a file's value is read as its flag is.
#[macro_export]
macro_rules! deserialize_from_str {
    ($type:ty) => {
        impl<'de> $crate::__serde::Deserialize<'de> for $type {
            fn deserialize<D: $crate::__serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                let name: ::std::string::String =
                    $crate::__serde::Deserialize::deserialize(deserializer)?;
                name.parse().map_err(<D::Error as $crate::__serde::de::Error>::custom)
            }
        }
    };
}

/// `FromStr` and `Deserialize` from a table of names: `named_setting!(Mode, "replay", {"unsafe"
/// => Mode::Unsafe, "all" => Mode::All})` refuses anything else with "replay must be unsafe or
/// all, not \"x\"".
#[macro_export]
macro_rules! named_setting {
    ($type:ty, $what:literal, { $first:literal => $first_value:expr $(, $name:literal => $value:expr)* $(,)? }) => {
        impl ::core::str::FromStr for $type {
            type Err = ::std::string::String;

            fn from_str(name: &str) -> ::core::result::Result<Self, Self::Err> {
                match name.trim() {
                    $first => Ok($first_value),
                    $($name => Ok($value),)*
                    other => {
                        let names = [$first $(, $name)*];
                        let (last, rest) = names.split_last().unwrap_or((&$first, &[]));
                        let listed = match rest {
                            [] => ::std::string::String::from(*last),
                            rest => ::std::format!("{} or {last}", rest.join(", ")),
                        };
                        Err(::std::format!("{} must be {listed}, not {other:?}", $what))
                    }
                }
            }
        }
        $crate::deserialize_from_str!($type);
    };
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[derive(Debug, PartialEq)]
    enum Colour {
        Red,
        Green,
        Blue,
    }
    crate::named_setting!(Colour, "colour", {"red" => Colour::Red, "green" => Colour::Green, "blue" => Colour::Blue});

    #[test]
    fn a_named_setting_reads_its_names_and_refuses_others_in_one_sentence() {
        assert_eq!(" green ".parse::<Colour>(), Ok(Colour::Green));
        assert_eq!(
            "pink".parse::<Colour>(),
            Err("colour must be red, green or blue, not \"pink\"".to_owned())
        );
        let file: Colour = serde_json::from_str("\"blue\"").unwrap();
        assert_eq!(file, Colour::Blue);
        let refused = serde_json::from_str::<Colour>("\"pink\"").unwrap_err().to_string();
        assert!(refused.starts_with("colour must be red, green or blue"), "{refused}");
    }
}
