//! Field validation helpers that produce 422 `validation_failed` naming the field.
//! Lengths count Unicode code points, as the contract requires.

use crate::AppError;
use serde::{Deserialize, Deserializer};

/// Checks that `value` has `min..=max` Unicode code points.
pub fn char_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), AppError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(AppError::validation(
            field,
            format!("must be {min} to {max} characters long"),
        ));
    }
    Ok(())
}

/// Checks that `value` lies in `min..=max`.
pub fn range(field: &str, value: i64, min: i64, max: i64) -> Result<(), AppError> {
    if value < min || value > max {
        return Err(AppError::validation(
            field,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(())
}

/// For `Option<Option<T>>` fields: absent -> `None`, `null` -> `Some(None)`.
/// Use with `#[serde(default, deserialize_with = "double_option")]`.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_code_points() {
        let hundred = "😀".repeat(100);
        assert!(char_len("name", &hundred, 1, 100).is_ok());
        assert!(char_len("name", &format!("{hundred}😀"), 1, 100).is_err());
        assert!(char_len("name", "", 1, 100).is_err());
    }
}
