//! Known keys and suggestions for unknown ones: the key lists come from the
//! serde structs themselves, so they cannot drift from what is parsed.

use std::fmt;

use serde::de::DeserializeOwned;

/// How far an unknown key may be from a known one to be taken for a typo of it.
const MAX_TYPO_DISTANCE: usize = 2;
/// How long an unknown key must be to be suggested the known key it begins (as
/// `timeout` begins `timeout_ms`): shorter ones begin too many.
const MIN_PREFIX_SUGGESTION: usize = 3;

pub(crate) fn unknown_key_message(
    key: &str,
    known: &[&str],
    misplaced_hint: Option<&str>,
) -> String {
    if let Some(hint) = misplaced_hint {
        return format!("not allowed here; {hint}");
    }
    match closest_key(key, known) {
        Some(suggestion) => format!("unknown key; did you mean `{suggestion}`?"),
        None => {
            let known: Vec<String> = known.iter().map(|key| format!("`{key}`")).collect();
            format!("unknown key; expected one of {}", known.join(", "))
        }
    }
}

/// A known key within a typo of `key`, or one that `key` begins, such as a key written
/// without its unit suffix; the nearest wins.
pub(crate) fn closest_key<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let begins = |candidate: &str| key.len() >= MIN_PREFIX_SUGGESTION && candidate.starts_with(key);
    known
        .iter()
        .map(|&candidate| (edit_distance(key, candidate), candidate))
        .filter(|&(distance, candidate)| distance <= MAX_TYPO_DISTANCE || begins(candidate))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, counting characters.
pub(super) fn edit_distance(left: &str, right: &str) -> usize {
    let right: Vec<char> = right.chars().collect();
    let mut previous: Vec<usize> = (0..=right.len()).collect();
    for (i, left_char) in left.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, &right_char) in right.iter().enumerate() {
            let substitution = previous[j] + usize::from(left_char != right_char);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous[right.len()]
}

/// The field names serde derives for `T`, so that the known keys cannot drift from the
/// structs: `FieldNames` stops deserialization at `deserialize_struct` and hands back the
/// `fields` argument.
pub(super) fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    match T::deserialize(FieldNames) {
        Err(FieldNamesError::Captured(fields)) => fields,
        _ => &[],
    }
}

struct FieldNames;

#[derive(Debug)]
enum FieldNamesError {
    Captured(&'static [&'static str]),
    NotAStruct,
}

impl fmt::Display for FieldNamesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("only a struct's field names can be captured")
    }
}

impl std::error::Error for FieldNamesError {}

impl serde::de::Error for FieldNamesError {
    fn custom<T: fmt::Display>(_: T) -> Self {
        FieldNamesError::NotAStruct
    }
}

impl<'de> serde::Deserializer<'de> for FieldNames {
    type Error = FieldNamesError;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(FieldNamesError::NotAStruct)
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        Err(FieldNamesError::Captured(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}
