//! A bound on every paginated listing: the continuation token must move on, and a listing
//! ends within a page cap.
//!
//! A service (or something between ecrgc and it) that answers a token it already handed out
//! would keep a naive `while let Some(token)` loop going for ever; one that never stops
//! handing out fresh tokens would do the same. [`TokenGuard`] remembers every token of one
//! listing and counts its pages; a repeated token (`A → A`, or a cycle `A → B → A`) or a
//! listing longer than its cap is a [`PageError`], which converts into a [`Failure`] of kind
//! [`FailureKind::Other`](crate::FailureKind::Other) with code [`PAGINATION_ERROR_CODE`].
//! The caller treats it like any other failed read of that unit: the collector records a
//! coverage gap, the executor keeps what it could not check.
//!
//! Every listing loop uses it, the shared [`Caller::paginate`](crate::Caller::paginate)
//! included. A hand-written loop needs two lines:
//!
//! ```
//! # use ecrgc_aws::pages::TokenGuard;
//! # fn send(_: Option<String>) -> Result<(Vec<u32>, Option<String>), ecrgc_aws::Failure> {
//! #     Ok((vec![1], None))
//! # }
//! # fn main() -> Result<(), ecrgc_aws::Failure> {
//! let mut guard = TokenGuard::new("ecr:DescribeImages");
//! let mut token = None;
//! loop {
//!     let (items, next) = send(token.clone())?;
//!     // … use items …
//!     # let _ = items;
//!     token = guard.next(next.as_deref())?;
//!     if token.is_none() {
//!         break;
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};

use crate::failure::{Failure, FailureKind};

/// Pages one listing may take before it is abandoned. The largest listings ecrgc makes are
/// DescribeImages of a repository (1,000 images a page, 20,000 images a repository by
/// default quota) and Inspector coverage (200 rows a page): 100,000 pages is far beyond any
/// real answer and still ends a runaway listing.
pub const DEFAULT_PAGE_CAP: u32 = 100_000;

/// The error code a pagination failure carries in the coverage table and in messages.
pub const PAGINATION_ERROR_CODE: &str = "PaginationLoop";

/// Why a listing was abandoned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The service answered a token it had already answered in this listing.
    #[error(
        "{api}: pagination token repeated after {pages} pages (token {token}); the listing was abandoned"
    )]
    RepeatedToken {
        /// The API being listed (`ecr:DescribeImages`).
        api: String,
        /// Pages read when the repetition was seen.
        pages: u32,
        /// The repeated token, shortened for messages.
        token: String,
    },
    /// The listing went past its page cap.
    #[error("{api}: more than {cap} pages; the listing was abandoned")]
    PageCap {
        /// The API being listed.
        api: String,
        /// The cap that was passed.
        cap: u32,
    },
}

impl From<PageError> for Failure {
    fn from(e: PageError) -> Self {
        Failure {
            kind: FailureKind::Other,
            code: Some(PAGINATION_ERROR_CODE.to_owned()),
            message: e.to_string(),
        }
    }
}

/// Watches the tokens of one listing; see the [module documentation](self).
pub struct TokenGuard {
    api: String,
    cap: u32,
    pages: u32,
    /// Hashes of the tokens seen: a token can be kilobytes long, and a 64-bit hash is enough
    /// to tell a few thousand of them apart.
    seen: HashSet<u64>,
}

impl fmt::Debug for TokenGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGuard")
            .field("api", &self.api)
            .field("cap", &self.cap)
            .field("pages", &self.pages)
            .finish()
    }
}

impl TokenGuard {
    /// A guard for one listing of `api`, with [`DEFAULT_PAGE_CAP`].
    pub fn new(api: impl Into<String>) -> Self {
        Self::with_cap(api, DEFAULT_PAGE_CAP)
    }

    /// A guard with its own page cap (at least one page).
    pub fn with_cap(api: impl Into<String>, cap: u32) -> Self {
        Self {
            api: api.into(),
            cap: cap.max(1),
            pages: 0,
            seen: HashSet::new(),
        }
    }

    /// Pages accounted so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Accounts one page whose answer carried `next`, and says how to go on: `Ok(None)` when
    /// the listing is complete (no token, or an empty one, which some services send on the
    /// last page), `Ok(Some(token))` for the next request, an error when the token was seen
    /// before in this listing or the page cap is passed.
    pub fn next(&mut self, next: Option<&str>) -> Result<Option<String>, PageError> {
        self.pages = self.pages.saturating_add(1);
        let Some(token) = next.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if !self.seen.insert(hash(token)) {
            return Err(PageError::RepeatedToken {
                api: self.api.clone(),
                pages: self.pages,
                token: shorten(token),
            });
        }
        if self.pages >= self.cap {
            return Err(PageError::PageCap {
                api: self.api.clone(),
                cap: self.cap,
            });
        }
        Ok(Some(token.to_owned()))
    }
}

fn hash(token: &str) -> u64 {
    let mut h = DefaultHasher::new();
    token.hash(&mut h);
    h.finish()
}

/// The first 40 characters of a token: enough to recognise it, short enough for a table.
fn shorten(token: &str) -> String {
    let mut chars = token.chars();
    let head: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_ends_on_no_token_or_an_empty_one() {
        let mut g = TokenGuard::new("ecr:DescribeImages");
        assert_eq!(g.next(Some("a")).expect("accepted"), Some("a".to_owned()));
        assert_eq!(g.next(Some("b")).expect("accepted"), Some("b".to_owned()));
        assert_eq!(g.next(None).expect("accepted"), None);
        assert_eq!(g.pages(), 3);
        let mut g = TokenGuard::new("lambda:ListFunctions");
        assert_eq!(g.next(Some("")).expect("accepted"), None);
    }

    #[test]
    fn a_repeated_token_is_an_error() {
        let mut g = TokenGuard::new("ecs:ListTasks");
        g.next(Some("a")).expect("accepted");
        let e = g.next(Some("a")).expect_err("an error");
        assert!(
            matches!(e, PageError::RepeatedToken { pages: 2, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("ecs:ListTasks"), "{e}");
    }

    #[test]
    fn a_cycle_is_an_error() {
        let mut g = TokenGuard::new("ecr:DescribeImages");
        g.next(Some("a")).expect("accepted");
        g.next(Some("b")).expect("accepted");
        g.next(Some("c")).expect("accepted");
        assert!(matches!(
            g.next(Some("b")),
            Err(PageError::RepeatedToken { .. })
        ));
    }

    #[test]
    fn the_page_cap_ends_a_listing_of_fresh_tokens() {
        let mut g = TokenGuard::with_cap("organizations:ListAccounts", 3);
        g.next(Some("1")).expect("accepted");
        g.next(Some("2")).expect("accepted");
        let e = g.next(Some("3")).expect_err("an error");
        assert_eq!(
            e,
            PageError::PageCap {
                api: "organizations:ListAccounts".into(),
                cap: 3
            }
        );
        // The last page of a capped listing is still fine.
        let mut g = TokenGuard::with_cap("x", 2);
        g.next(Some("1")).expect("accepted");
        assert_eq!(g.next(None).expect("accepted"), None);
    }

    #[test]
    fn a_page_error_is_a_failure_of_its_own_code() {
        let mut g = TokenGuard::new("config:SelectAggregateResourceConfig");
        g.next(Some("t")).expect("accepted");
        let f: Failure = g.next(Some("t")).expect_err("an error").into();
        assert_eq!(f.kind, FailureKind::Other);
        assert_eq!(f.code.as_deref(), Some(PAGINATION_ERROR_CODE));
        assert_eq!(f.kind.coverage_status(), "error");
    }

    #[test]
    fn long_tokens_are_shortened_in_messages() {
        let long = "x".repeat(500);
        let mut g = TokenGuard::new("inspector2:ListCoverage");
        g.next(Some(&long)).expect("accepted");
        let e = g.next(Some(&long)).expect_err("an error").to_string();
        assert!(e.len() < 200, "{e}");
    }
}
