//! The ECR lifecycle policy document.
//!
//! The shape is ECR's own (`lifecyclePolicyText`): `{"rules": [{"rulePriority", "description",
//! "selection": {"tagStatus", "tagPrefixList" | "tagPatternList", "countType", "countUnit",
//! "countNumber"}, "action": {"type": "expire"}}]}`. [`LifecyclePolicy::parse`] refuses what
//! ECR refuses (duplicate priorities, a tag list on an untagged rule, `countUnit` on a count
//! rule, an `any` rule that is not last…) and what the simulator cannot evaluate (archive
//! transitions, pull-based counts), naming the field.
//!
//! ECR may hand a policy back reformatted (rules reordered by priority, keys in another
//! order, whitespace), so comparisons use [`policy_sha256`], a hash of the canonical JSON
//! (object keys sorted, no whitespace), never of the raw text.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{LifecycleError, Result, hex};

/// A lifecycle policy: rules evaluated in `rulePriority` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecyclePolicy {
    /// The rules, in priority order once parsed.
    pub rules: Vec<PolicyRule>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRule {
    /// Lower is evaluated first; unique within a policy.
    pub rule_priority: u32,
    /// Free text shown by ECR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which images the rule selects.
    pub selection: Selection,
    /// What happens to them.
    pub action: Action,
}

/// `tagStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagStatus {
    /// Images with at least one tag (narrowed by a prefix or pattern list).
    Tagged,
    /// Images without a tag.
    Untagged,
    /// Every image.
    Any,
}

/// `countType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CountType {
    /// Keep the newest `countNumber` images (by push time) of the selection.
    #[serde(rename = "imageCountMoreThan")]
    ImageCountMoreThan,
    /// Expire images of the selection pushed more than `countNumber` `countUnit`s ago.
    #[serde(rename = "sinceImagePushed")]
    SinceImagePushed,
}

/// `selection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selection {
    /// Tagged, untagged or any.
    pub tag_status: TagStatus,
    /// Every prefix must be the start of some tag of the image (ECR: "only the images with
    /// all specified tags are selected").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_prefix_list: Option<Vec<String>>,
    /// Every pattern (`*` matches any run of characters) must match some tag of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_pattern_list: Option<Vec<String>>,
    /// Count or age.
    pub count_type: CountType,
    /// `days` for `sinceImagePushed`; absent for `imageCountMoreThan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_unit: Option<String>,
    /// N.
    pub count_number: u32,
}

/// `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Only `expire` is evaluated; anything else is refused by [`LifecyclePolicy::parse`].
    #[serde(rename = "type")]
    pub kind: String,
}

impl Action {
    /// `{"type": "expire"}`.
    pub fn expire() -> Self {
        Self {
            kind: "expire".to_owned(),
        }
    }
}

impl LifecyclePolicy {
    /// Parses and validates a policy document; `origin` names it in errors. Rules come back
    /// sorted by priority.
    pub fn parse(origin: &str, text: &str) -> Result<Self> {
        let invalid = |field: &str, reason: String| LifecycleError::InvalidPolicy {
            origin: origin.to_owned(),
            field: field.to_owned(),
            reason,
        };
        // Unknown keys are read into a Value first so that a field the simulator does not
        // understand (storageClass, transitions) is named instead of silently ignored.
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid("*", format!("not JSON: {e}")))?;
        let rules = value
            .get("rules")
            .and_then(|r| r.as_array())
            .ok_or_else(|| invalid("rules", "missing, or not a list".into()))?;
        for (i, rule) in rules.iter().enumerate() {
            if let Some(sel) = rule.get("selection").and_then(|s| s.as_object()) {
                for key in sel.keys() {
                    if !matches!(
                        key.as_str(),
                        "tagStatus"
                            | "tagPrefixList"
                            | "tagPatternList"
                            | "countType"
                            | "countUnit"
                            | "countNumber"
                    ) {
                        return Err(invalid(
                            &format!("rules[{i}].selection.{key}"),
                            "not evaluated by ecrgc's simulator".into(),
                        ));
                    }
                }
            }
        }
        let mut policy: LifecyclePolicy = serde_json::from_value(value)
            .map_err(|e| invalid("rules", format!("not an ECR lifecycle policy: {e}")))?;
        policy.validate(origin)?;
        policy.rules.sort_by_key(|r| r.rule_priority);
        Ok(policy)
    }

    /// The checks ECR makes when a policy is put.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let invalid = |field: String, reason: &str| LifecycleError::InvalidPolicy {
            origin: origin.to_owned(),
            field,
            reason: reason.to_owned(),
        };
        if self.rules.is_empty() {
            return Err(invalid("rules".into(), "at least one rule is required"));
        }
        let mut seen = std::collections::HashSet::new();
        let max_priority = self.rules.iter().map(|r| r.rule_priority).max();
        for (i, r) in self.rules.iter().enumerate() {
            let at = |f: &str| format!("rules[{i}].{f}");
            if r.rule_priority == 0 {
                return Err(invalid(at("rulePriority"), "must be at least 1"));
            }
            if !seen.insert(r.rule_priority) {
                return Err(invalid(at("rulePriority"), "used by another rule"));
            }
            if r.action.kind != "expire" {
                return Err(invalid(
                    at("action.type"),
                    "only `expire` is evaluated by ecrgc's simulator",
                ));
            }
            let s = &r.selection;
            let lists = [&s.tag_prefix_list, &s.tag_pattern_list];
            match s.tag_status {
                TagStatus::Tagged => {
                    match lists.iter().filter(|l| l.is_some()).count() {
                        1 => {}
                        0 => {
                            return Err(invalid(
                                at("selection"),
                                "a tagged rule needs tagPrefixList or tagPatternList",
                            ));
                        }
                        _ => {
                            return Err(invalid(
                                at("selection"),
                                "tagPrefixList and tagPatternList cannot both be given",
                            ));
                        }
                    }
                    if lists
                        .iter()
                        .any(|l| l.as_ref().is_some_and(|l| l.is_empty()))
                    {
                        return Err(invalid(
                            at("selection"),
                            "an empty tag list selects nothing",
                        ));
                    }
                }
                TagStatus::Untagged | TagStatus::Any => {
                    if lists.iter().any(|l| l.is_some()) {
                        return Err(invalid(
                            at("selection"),
                            "tag lists are only allowed with tagStatus tagged",
                        ));
                    }
                }
            }
            if s.tag_status == TagStatus::Any && Some(r.rule_priority) != max_priority {
                return Err(invalid(
                    at("rulePriority"),
                    "a rule with tagStatus any must have the highest rulePriority",
                ));
            }
            match (s.count_type, s.count_unit.as_deref()) {
                (CountType::SinceImagePushed, Some("days")) => {}
                (CountType::SinceImagePushed, _) => {
                    return Err(invalid(
                        at("selection.countUnit"),
                        "sinceImagePushed needs countUnit \"days\"",
                    ));
                }
                (CountType::ImageCountMoreThan, None) => {}
                (CountType::ImageCountMoreThan, Some(_)) => {
                    return Err(invalid(
                        at("selection.countUnit"),
                        "imageCountMoreThan takes no countUnit",
                    ));
                }
            }
            if s.count_number == 0 {
                return Err(invalid(at("selection.countNumber"), "must be at least 1"));
            }
        }
        Ok(())
    }

    /// The policy as ECR's `lifecyclePolicyText`: compact JSON in ECR's field order.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// [`policy_sha256`] of this policy.
    pub fn sha256(&self) -> String {
        policy_sha256(&self.to_text())
    }
}

/// SHA-256 of a policy text's canonical form (JSON with object keys sorted, no whitespace,
/// rules sorted by priority), so that ECR's reformatting does not count as a change. Text
/// that is not JSON is hashed as it is.
pub fn policy_sha256(text: &str) -> String {
    let canonical = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(mut v) => {
            if let Some(rules) = v.get_mut("rules").and_then(|r| r.as_array_mut()) {
                rules.sort_by_key(|r| r.get("rulePriority").and_then(|p| p.as_u64()));
            }
            // serde_json's map is ordered by key (no preserve_order feature): sorted output.
            serde_json::to_string(&v).unwrap_or_else(|_| text.to_owned())
        }
        Err(_) => text.to_owned(),
    };
    hex(&Sha256::digest(canonical.as_bytes()))
}

impl Selection {
    /// Whether an image with `tags` is selected by the tag criteria (not the count).
    pub fn matches_tags(&self, tags: &[String]) -> bool {
        match self.tag_status {
            TagStatus::Any => true,
            TagStatus::Untagged => tags.is_empty(),
            TagStatus::Tagged => {
                if tags.is_empty() {
                    return false;
                }
                if let Some(prefixes) = &self.tag_prefix_list {
                    return prefixes
                        .iter()
                        .all(|p| tags.iter().any(|t| t.starts_with(p.as_str())));
                }
                if let Some(patterns) = &self.tag_pattern_list {
                    return patterns
                        .iter()
                        .all(|p| tags.iter().any(|t| wildcard_match(p, t)));
                }
                false
            }
        }
    }
}

/// `*` matches any run of characters (possibly empty); every other character itself.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNTAGGED_14: &str = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}"#;

    #[test]
    fn parses_ecr_policies_and_hashes_them_canonically() {
        let p = LifecyclePolicy::parse("p", UNTAGGED_14).expect("valid");
        assert_eq!(p.rules[0].selection.count_number, 14);
        assert_eq!(p.to_text(), UNTAGGED_14);
        let reformatted = r#"{ "rules": [ { "action": {"type": "expire"}, "selection": {"countNumber": 14, "countUnit": "days", "countType": "sinceImagePushed", "tagStatus": "untagged"}, "rulePriority": 1 } ] }"#;
        assert_eq!(policy_sha256(reformatted), p.sha256());
        assert_ne!(policy_sha256(&UNTAGGED_14.replace("14", "15")), p.sha256());
    }

    #[test]
    fn refuses_what_ecr_refuses_naming_the_field() {
        let cases = [
            (
                UNTAGGED_14.replace("\"days\"", "\"weeks\""),
                "rules[0].selection.countUnit",
            ),
            (
                UNTAGGED_14.replace("\"untagged\"", "\"tagged\""),
                "rules[0].selection",
            ),
            (
                UNTAGGED_14.replace("\"expire\"", "\"transition\""),
                "rules[0].action.type",
            ),
            (
                UNTAGGED_14.replace(
                    "\"countNumber\"",
                    "\"storageClass\":\"archive\",\"countNumber\"",
                ),
                "rules[0].selection.storageClass",
            ),
            ("[]".to_owned(), "rules"),
        ];
        for (text, field) in cases {
            let err = LifecyclePolicy::parse("p.json", &text).expect_err(&text);
            assert!(err.to_string().contains(field), "{err} / {field}");
        }
        let any_first = r#"{"rules":[
            {"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}},
            {"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}"#;
        let err = LifecyclePolicy::parse("p", any_first).expect_err("any not last");
        assert!(err.to_string().contains("highest rulePriority"), "{err}");
    }

    #[test]
    fn tag_lists_need_every_entry_matched() {
        let sel = |prefixes: Option<&[&str]>, patterns: Option<&[&str]>| Selection {
            tag_status: TagStatus::Tagged,
            tag_prefix_list: prefixes.map(|p| p.iter().map(|s| s.to_string()).collect()),
            tag_pattern_list: patterns.map(|p| p.iter().map(|s| s.to_string()).collect()),
            count_type: CountType::ImageCountMoreThan,
            count_unit: None,
            count_number: 1,
        };
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(sel(Some(&["ci-"]), None).matches_tags(&tags(&["ci-12", "v1"])));
        assert!(!sel(Some(&["ci-", "pr-"]), None).matches_tags(&tags(&["ci-12"])));
        assert!(sel(Some(&["ci-", "pr-"]), None).matches_tags(&tags(&["ci-12", "pr-3"])));
        assert!(!sel(Some(&["ci-"]), None).matches_tags(&[]));
        assert!(sel(None, Some(&["prod*"])).matches_tags(&tags(&["prod-1"])));
        assert!(sel(None, Some(&["*-rc*"])).matches_tags(&tags(&["1.2-rc3"])));
        assert!(!sel(None, Some(&["*-rc"])).matches_tags(&tags(&["1.2-rc3"])));
        assert!(wildcard_match("a*b*c", "aXbYc"));
        assert!(!wildcard_match("a*b*c", "aXcYb"));
        assert!(wildcard_match("*", ""));
    }
}
