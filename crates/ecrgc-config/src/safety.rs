//! `[safety]`: what may never be touched and what may enter a manifest, and the tag
//! selectors its exclude and opt-in tags are written as.

use serde::{Deserialize, Serialize};

/// `[safety]`: what may never be touched and what may enter a manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SafetyConfig {
    /// `key=value`, or `key` alone for any value: repositories with this tag are left out
    /// entirely.
    #[serde(default = "default_exclude_tag")]
    pub exclude_tag: String,
    /// `key=value`, or `key` alone for any value: only repositories with this tag may enter a
    /// manifest; empty for all.
    #[serde(default = "default_opt_in_tag")]
    pub opt_in_tag: String,
    /// Hours a manifest stays valid after it is written, 1 to 720.
    #[serde(default = "default_manifest_ttl_hours")]
    pub manifest_ttl_hours: u32,
    /// Approvals (`ecrgc approve`) a plan needs before `apply --yes` acts on it, 0 (none) to
    /// 20.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub approvals_required: u32,
    /// Whether an approval by the planner's own principal does not count.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub approver_must_differ: bool,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            exclude_tag: default_exclude_tag(),
            opt_in_tag: default_opt_in_tag(),
            manifest_ttl_hours: default_manifest_ttl_hours(),
            approvals_required: 0,
            approver_must_differ: true,
        }
    }
}

// The two approval keys stay out of the serialized form (and the hash) at their defaults,
// so that configurations written before they existed keep their hash.
fn is_zero(n: &u32) -> bool {
    *n == 0
}
fn is_true(b: &bool) -> bool {
    *b
}

fn default_exclude_tag() -> String {
    "unusd=true".into()
}
fn default_opt_in_tag() -> String {
    "ecrgc:auto-delete=true".into()
}
fn default_manifest_ttl_hours() -> u32 {
    72
}

fn yes() -> bool {
    true
}

/// A repository tag selector: `key=value` matches that value, `key` alone matches the key
/// with any value (`key=` matches the empty value only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSelector {
    /// Tag key.
    pub key: String,
    /// Tag value; `None` for any value.
    pub value: Option<String>,
}

impl TagSelector {
    /// Parses `key=value` or `key`; `None` when the key is empty.
    pub fn parse(s: &str) -> Option<Self> {
        let (key, value) = match s.split_once('=') {
            Some((k, v)) => (k, Some(v.trim().to_owned())),
            None => (s, None),
        };
        let key = key.trim();
        if key.is_empty() {
            return None;
        }
        Some(Self {
            key: key.to_owned(),
            value,
        })
    }

    /// Whether a repository tag `key` = `value` is selected.
    pub fn matches(&self, key: &str, value: &str) -> bool {
        self.key == key && self.value.as_deref().is_none_or(|v| v == value)
    }
}

impl std::fmt::Display for TagSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={v}", self.key),
            None => write!(f, "{} (any value)", self.key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_key_alone_selects_any_value() {
        let any = TagSelector::parse("do-not-delete").expect("key alone");
        assert_eq!(any.value, None);
        assert!(any.matches("do-not-delete", "yes") && any.matches("do-not-delete", ""));
        assert!(!any.matches("other", "yes"));
        let empty = TagSelector::parse("do-not-delete=").expect("empty value");
        assert!(empty.matches("do-not-delete", "") && !empty.matches("do-not-delete", "yes"));
        let exact = TagSelector::parse(" team = platform ").expect("key=value");
        assert!(exact.matches("team", "platform") && !exact.matches("team", "other"));
        assert_eq!(TagSelector::parse("=x"), None);
    }
}
