//! The decision semantics of a plan, evaluated in Rust independently of the SQL: the
//! precedence of guards and rules, when a workload reference still protects, and how a
//! decision passes from an image to what hangs below it (the headers of `sql/views/`,
//! `sql/rules/`, `sql/guards/` and `sql/plan/decisions.sql`).
//!
//! Two evaluators stand on it: the demo's truth ([`crate::demo::DemoTruth`]), which
//! judges the facts the demo generates, and the engine's property tests, which judge
//! random organizations. Each derives the facts (which guards and rules apply) from its own
//! model; this module owns what is done with them, so the two cannot drift apart.

/// Guards in precedence order: the first that applies is the reason an image is kept.
pub const GUARDS: &[&str] = &[
    "exclude_tag",
    "image_status",
    "live_reference",
    "recent_use",
    "history_use",
    "recent_pull",
    "young_image",
    "usage_coverage_gap",
];

/// The rules that can flag an image under the default configuration (`keep_newest` 0,
/// `not_pulled` off), in precedence order: the first is the rule a deletion is listed under.
pub const RULES: &[&str] = &[
    "inactive_task_definition",
    "stale",
    "never_used",
    "untagged_fallback",
];

/// The names of `table` (ordered like [`GUARDS`] or [`RULES`]) whose flag is set, in
/// precedence order.
pub fn in_precedence(table: &'static [&'static str], flags: &[bool]) -> Vec<&'static str> {
    debug_assert_eq!(table.len(), flags.len(), "one flag per name");
    table
        .iter()
        .zip(flags)
        .filter_map(|(name, on)| on.then_some(*name))
        .collect()
}

/// Whether a workload reference still protects the image it names (header of
/// `sql/views/image_refs.sql`): a task definition while ACTIVE, a task until STOPPED, a
/// service deployment never on its own; each also while its status changed within the
/// rollback window (`within_rollback`, true when the change time is unknown). Services and
/// Lambda functions always protect.
pub fn reference_is_live(kind: &str, status: &str, within_rollback: bool) -> bool {
    match kind {
        "task_definition" => status == "ACTIVE" || within_rollback,
        "task" => status != "STOPPED" || within_rollback,
        "service_deployment" => within_rollback,
        _ => true,
    }
}

/// What the decisions of an image's parents say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parents {
    /// A root: it hangs below no image.
    None,
    /// Every parent is deletable (`delete` or `not_opted_in`).
    AllDeletable,
    /// Some parent is kept: listed, protected, or not listed at all.
    SomeKept,
}

/// The decision about one image: `status` `None` means not listed (a root no rule flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    /// `delete`, `not_opted_in`, `protected`, `kept_with_parent`, or `None`.
    pub status: Option<&'static str>,
    /// The first rule that flags the image; `with_parent` for a child deleted only
    /// because its parents are.
    pub rule: Option<&'a str>,
    /// The first guard of a `protected` image, `parent_kept` for `kept_with_parent`.
    pub reason: Option<&'a str>,
}

impl Decision<'_> {
    /// Whether the image goes (or would go, once opted in) with the manifest.
    pub fn deletable(&self) -> bool {
        matches!(self.status, Some("delete" | "not_opted_in"))
    }
}

/// Decides one image (header of `sql/plan/decisions.sql`) from its rules and guards, each
/// in precedence order, and its parents' decisions. A root is listed only when a rule
/// flags it, and then kept by its first guard. A child goes with its parents unless a guard
/// of its own keeps it or some parent is kept. `may_delete` is false when the opt-in tag is
/// required and its repository lacks it: a deletable image is then `not_opted_in`.
pub fn decide<'a>(
    rules: &[&'a str],
    guards: &[&'a str],
    parents: Parents,
    may_delete: bool,
) -> Decision<'a> {
    let deletable = if may_delete { "delete" } else { "not_opted_in" };
    let rule = rules.first().copied();
    let (status, rule, reason) = match (parents, guards.first()) {
        (Parents::None, _) if rule.is_none() => (None, None, None),
        (_, Some(guard)) => (Some("protected"), rule, Some(*guard)),
        (Parents::None, None) => (Some(deletable), rule, None),
        (Parents::SomeKept, None) => (Some("kept_with_parent"), rule, Some("parent_kept")),
        (Parents::AllDeletable, None) => {
            (Some(deletable), Some(rule.unwrap_or("with_parent")), None)
        }
    };
    Decision {
        status,
        rule,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_is_listed_only_when_flagged_and_then_kept_by_its_first_guard() {
        let none = decide(&[], &["recent_use"], Parents::None, true);
        assert_eq!(none.status, None);
        let kept = decide(
            &["stale"],
            &["live_reference", "young_image"],
            Parents::None,
            true,
        );
        assert_eq!(
            (kept.status, kept.rule, kept.reason),
            (Some("protected"), Some("stale"), Some("live_reference"))
        );
        let gone = decide(&["never_used", "stale"], &[], Parents::None, false);
        assert_eq!(
            (gone.status, gone.rule, gone.reason),
            (Some("not_opted_in"), Some("never_used"), None)
        );
    }

    #[test]
    fn a_child_goes_with_its_parents_unless_it_or_a_parent_is_kept() {
        let with = decide(&[], &[], Parents::AllDeletable, true);
        assert_eq!(
            (with.status, with.rule),
            (Some("delete"), Some("with_parent"))
        );
        let kept = decide(&["stale"], &[], Parents::SomeKept, true);
        assert_eq!(
            (kept.status, kept.rule, kept.reason),
            (Some("kept_with_parent"), Some("stale"), Some("parent_kept"))
        );
        let own = decide(&[], &["recent_pull"], Parents::AllDeletable, true);
        assert_eq!(
            (own.status, own.reason),
            (Some("protected"), Some("recent_pull"))
        );
        assert!(!own.deletable() && with.deletable());
    }
}
