//! `StringOr<T>`: the "a string or a list of items" unions both vendors' APIs use,
//! parsed so that an error inside an item keeps its path.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// A string, or a list of `T` (Anthropic's `content` and `system`, OpenAI Responses'
/// `input`). Parsed by
/// hand so an error inside a block names its path instead of "did not match any
/// variant".
#[derive(Debug, Clone, PartialEq)]
pub enum StringOr<T> {
    Text(String),
    Blocks(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for StringOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = StringOr<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of content blocks")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(StringOr::Text(s.to_string()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(StringOr::Text(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::<T>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(StringOr::Blocks)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}
