//! Keyset pagination: `limit` (1..=100, default 20) and `after` (an id) in, and
//! `{"items": [...], "next": <id or null>}` out.

use crate::AppError;
use crate::extract::{MAX_ID, Query};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

/// `limit` when the client gives none.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest `limit` accepted.
pub const MAX_LIMIT: u32 = 100;

/// The raw pagination parameters, for services whose list endpoint takes more
/// parameters and so deserialises its own query struct.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct PageQuery {
    /// Page size.
    pub limit: Option<u64>,
    /// Id after which the page starts.
    pub after: Option<u64>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Items wanted, 1..=100.
    pub limit: u32,
    /// Only ids greater than this one are returned; 0 for the first page.
    pub after: i64,
}

impl PageRequest {
    /// Validates raw `limit` / `after` values (422 naming the parameter).
    pub fn new(limit: Option<u64>, after: Option<u64>) -> Result<Self, AppError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(l) if (1..=u64::from(MAX_LIMIT)).contains(&l) => l as u32,
            Some(_) => {
                return Err(AppError::validation(
                    "limit",
                    format!("must be an integer between 1 and {MAX_LIMIT}"),
                ));
            }
        };
        let after = match after {
            None => 0,
            // MAX_ID is i64::MAX, so the conversion is the range check.
            Some(a) => i64::try_from(a).map_err(|_| {
                AppError::validation("after", format!("must be an id between 0 and {MAX_ID}"))
            })?,
        };
        Ok(Self { limit, after })
    }

    /// Rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageRequest {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(q) = Query::<PageQuery>::from_request_parts(parts, state).await?;
        Self::new(q.limit, q.after)
    }
}

/// Something with the id used as the pagination key.
pub trait Keyed {
    /// The keyset id.
    fn key(&self) -> i64;
}

/// One page of a list response.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page, in id order.
    pub items: Vec<T>,
    /// The id to pass as `after` for the next page; null on the last page.
    pub next: Option<i64>,
}

impl<T: Keyed> Page<T> {
    /// Builds a page from rows fetched with [`PageRequest::fetch_limit`].
    pub fn from_rows(mut rows: Vec<T>, request: PageRequest) -> Self {
        let limit = request.limit as usize;
        if rows.len() > limit {
            rows.truncate(limit);
            let next = rows.last().map(Keyed::key);
            Self { items: rows, next }
        } else {
            Self {
                items: rows,
                next: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Keyed for i64 {
        fn key(&self) -> i64 {
            *self
        }
    }

    #[test]
    fn limits_are_checked() {
        assert_eq!(PageRequest::new(None, None).unwrap().limit, 20);
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(101), None).is_err());
        assert!(PageRequest::new(Some(1), Some(u64::MAX)).is_err());
    }

    #[test]
    fn next_is_set_only_when_more_rows_exist() {
        let req = PageRequest::new(Some(2), None).unwrap();
        assert_eq!(Page::from_rows(vec![1, 2, 3], req).next, Some(2));
        assert_eq!(Page::from_rows(vec![1, 2], req).next, None);
    }
}
