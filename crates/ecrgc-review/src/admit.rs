//! Admission: every check a plan passes before an executor makes its first AWS call.

use std::collections::{BTreeSet, HashSet};

use ecrgc_model::time::{Micros, parse_rfc3339, rfc3339};
use ecrgc_store::Store;

use crate::approval::{Approval, principal_key, read_approvals};
use crate::header::{Binding, MAX_CLOCK_SKEW_SECONDS, MAX_PLAN_LIFETIME_HOURS};
use crate::record::{PlanRecord, RECORDS_FOLDER, ReviewedPlan, check_against, record_parts};
use crate::{Result, ReviewError};

/// `[safety] approvals_required` and `approver_must_differ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// Approvals `apply --yes` needs.
    pub required: u32,
    /// Whether the planner's own approval does not count.
    pub must_differ: bool,
}

/// What admission checks a plan against.
pub struct Gate<'a> {
    /// The plan file, for messages.
    pub path: &'a str,
    /// The store in use.
    pub store: &'a Store,
    /// The clock: the real one for `--yes` (a dry run may be given another).
    pub now: Micros,
    /// `apply --yes` (a dry run shows what-ifs and missing approvals instead of refusing).
    pub execute: bool,
    /// The configuration in force (`None`: not checked, as when a reviewer approves).
    pub binding: Option<&'a Binding>,
    /// The approvals needed.
    pub approvals: ApprovalPolicy,
}

/// A plan that passed.
#[derive(Debug, Clone)]
pub struct Admission {
    /// The plan's id.
    pub plan_id: String,
    /// The snapshot time, µs.
    pub snapshot_time: Micros,
    /// The items every counted approval kept (`None`: no approval counts, every item).
    pub approved: Option<HashSet<String>>,
    /// The principals whose approvals count.
    pub approvers: Vec<String>,
    /// What would refuse `--yes`, shown by a dry run.
    pub warnings: Vec<String>,
}

/// Admits `plan`, read from `gate.path`, in the order the messages are most useful: the
/// record, expiry, what-if, the clocks, the configuration, the approvals.
pub async fn admit<P: ReviewedPlan>(plan: &P, gate: &Gate<'_>) -> Result<Admission> {
    let plan_id = plan.plan_id();
    let store = gate.store;
    let record = match read_record::<P>(store, &plan_id).await? {
        Some(record) => Some(record),
        // No record under this id: find the plan the header was edited from, to name the
        // field in the message. Only the message depends on it.
        None => closest_record::<P>(store, P::common(plan.header())).await?,
    };
    check_against(plan, gate.path, store.display(), record.as_ref())?;
    let record = record.expect("check_against passed, so the record exists");
    let header = P::common(plan.header());
    let path = gate.path.to_owned();
    let time = |field: &str, value: &str| {
        parse_rfc3339(value).map_err(|_| ReviewError::BadTime {
            path: path.clone(),
            field: field.to_owned(),
            value: value.to_owned(),
        })
    };
    let snapshot_time = time("snapshot_time", &header.snapshot_time)?;
    let expires_at = time("expires_at", &header.expires_at)?;
    let mut warnings = Vec::new();
    let mut refuse = |e: ReviewError| -> Result<()> {
        if gate.execute {
            Err(e)
        } else {
            warnings.push(e.to_string());
            Ok(())
        }
    };

    let created_at = time("created_at", &header.created_at)?;
    if ecrgc_model::time::after(created_at, MAX_PLAN_LIFETIME_HOURS, ecrgc_model::time::HOUR)
        .is_none_or(|latest| expires_at > latest)
    {
        return Err(ReviewError::LifetimeTooLong {
            path: path.clone(),
            created_at: header.created_at.clone(),
            expires_at: header.expires_at.clone(),
        });
    }
    if gate.now > expires_at {
        return Err(ReviewError::Expired {
            path: path.clone(),
            expires_at: header.expires_at.clone(),
            now: rfc3339(gate.now),
        });
    }
    if !header.what_if.is_empty() {
        refuse(ReviewError::WhatIf {
            path: path.clone(),
            reasons: header.what_if.clone(),
        })?;
    }
    for (field, value) in [
        ("created_at", &header.created_at),
        ("planned_at", &header.planned_at),
    ] {
        if time(field, value)? > gate.now + MAX_CLOCK_SKEW_SECONDS * 1_000_000 {
            refuse(ReviewError::FromTheFuture {
                path: path.clone(),
                field: field.to_owned(),
                value: value.clone(),
                now: rfc3339(gate.now),
            })?;
        }
    }
    if let Some(binding) = gate.binding {
        if header.config.configured && !binding.configured {
            return Err(ReviewError::ConfigurationMissing {
                path: path.clone(),
                sha256: header.config.sha256.clone(),
            });
        }
        let changed = header.config.differences(binding);
        if !changed.is_empty() {
            return Err(ReviewError::ConfigurationChanged {
                path: path.clone(),
                keys: changed,
            });
        }
    }

    let approvals = read_approvals(store, &plan_id).await?;
    let counted = count_approvals::<P>(&record, header.planned_by.as_deref(), gate, approvals);
    let policy = gate.approvals;
    if policy.required > 0 {
        if policy.must_differ && header.planned_by.is_none() {
            refuse(ReviewError::NoPlanner { path: path.clone() })?;
        } else if counted.counted.len() < policy.required as usize {
            refuse(ReviewError::ApprovalsMissing {
                path: path.clone(),
                plan_id: plan_id.clone(),
                required: policy.required,
                counted: counted.counted.len(),
                planner: header
                    .planned_by
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
                not_counted: counted.not_counted.clone(),
            })?;
        }
    }
    let approved = counted.intersection();
    Ok(Admission {
        plan_id,
        snapshot_time,
        approved,
        approvers: counted
            .counted
            .iter()
            .map(|a| a.principal.clone())
            .collect(),
        warnings,
    })
}

/// Approvals sorted into those that count and those that do not (with why).
struct Counted {
    counted: Vec<Approval>,
    not_counted: Vec<String>,
}

impl Counted {
    /// The items every counted approval kept.
    fn intersection(&self) -> Option<HashSet<String>> {
        let mut sets = self
            .counted
            .iter()
            .map(|a| a.item_ids.iter().cloned().collect::<HashSet<String>>());
        let first = sets.next()?;
        Some(sets.fold(first, |acc, s| acc.intersection(&s).cloned().collect()))
    }
}

fn count_approvals<P: ReviewedPlan>(
    record: &PlanRecord<P::Header>,
    planned_by: Option<&str>,
    gate: &Gate<'_>,
    approvals: Vec<(String, std::result::Result<Approval, String>)>,
) -> Counted {
    let planned: HashSet<&str> = record.item_ids.iter().map(String::as_str).collect();
    let planner = planned_by.map(principal_key);
    let mut seen = BTreeSet::new();
    let mut out = Counted {
        counted: Vec::new(),
        not_counted: Vec::new(),
    };
    for (name, approval) in approvals {
        let mut approval = match approval {
            Ok(a) => a,
            Err(e) => {
                out.not_counted.push(format!("{name}: unreadable ({e})"));
                continue;
            }
        };
        // Counted by the principal the ARN names, whatever the object claims.
        approval.principal = principal_key(&approval.principal_arn);
        let who = approval.principal.clone();
        let why = if approval.plan_id != record.plan_id || approval.kind != P::KIND {
            Some("it approves another plan")
        } else if approval
            .item_ids
            .iter()
            .any(|i| !planned.contains(i.as_str()))
        {
            Some("it names items the plan does not have")
        } else if gate.approvals.must_differ && planner.as_deref() == Some(who.as_str()) {
            Some("the planner")
        } else if !seen.insert(who.clone()) {
            Some("a second approval by the same principal")
        } else {
            None
        };
        match why {
            Some(why) => out.not_counted.push(format!("{who} ({why})")),
            None => out.counted.push(approval),
        }
    }
    out
}

/// The record of `plan_id`, if the store holds a whole one of this kind.
pub async fn read_record<P: ReviewedPlan>(
    store: &Store,
    plan_id: &str,
) -> Result<Option<PlanRecord<P::Header>>> {
    let parts = record_parts(plan_id);
    let Some(bytes) = store.get_object(&[&parts[0], &parts[1]]).await? else {
        return Ok(None);
    };
    // A record that does not parse or is not whole proves nothing: treat it as absent.
    Ok(serde_json::from_slice::<PlanRecord<P::Header>>(&bytes)
        .ok()
        .filter(|r| {
            r.plan_id == plan_id && r.kind == P::KIND && r.is_consistent(P::common(&r.header))
        }))
}

/// A record of the same run and clock as `header`: the plan an edited header came from.
async fn closest_record<P: ReviewedPlan>(
    store: &Store,
    header: &crate::PlanHeader,
) -> Result<Option<PlanRecord<P::Header>>> {
    for name in store.list_objects(&[RECORDS_FOLDER]).await? {
        let Some(bytes) = store.get_object(&[RECORDS_FOLDER, &name]).await? else {
            continue;
        };
        if let Ok(record) = serde_json::from_slice::<PlanRecord<P::Header>>(&bytes) {
            let other = P::common(&record.header);
            if record.kind == P::KIND
                && other.run_id == header.run_id
                && other.planned_at == header.planned_at
            {
                return Ok(Some(record));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;
    use crate::approval::write_approval;
    use crate::digest::items_sha256;
    use crate::header::{HeaderFields, PlanHeader, WhatIf};
    use crate::record::PlanItem;

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    struct Header {
        #[serde(flatten)]
        plan: PlanHeader,
        count: u64,
    }

    #[derive(Debug, Clone)]
    struct Item(String);

    impl PlanItem for Item {
        fn item_id(&self) -> &str {
            &self.0
        }
        fn label(&self) -> String {
            format!("thing {}", self.0)
        }
    }

    #[derive(Debug, Clone)]
    struct Plan {
        header: Header,
        items: Vec<Item>,
    }

    impl ReviewedPlan for Plan {
        type Header = Header;
        type Item = Item;
        const KIND: &'static str = "test";
        const FORMAT_VERSION: u32 = 1;
        fn header(&self) -> &Header {
            &self.header
        }
        fn common(header: &Header) -> &PlanHeader {
            &header.plan
        }
        fn items(&self) -> &[Item] {
            &self.items
        }
    }

    const NOW: Micros = 1_795_000_000_000_000;
    const HOUR: Micros = 3_600_000_000;
    const PLANNER: &str = "arn:aws:sts::111122223333:assumed-role/Planner/nightly";

    fn binding(unused_days: u32) -> Binding {
        Binding::new(
            true,
            [("rules.unused_days".to_owned(), json!(unused_days))].into(),
        )
    }

    fn plan(now: Micros, what_if: WhatIf) -> Plan {
        let items: Vec<Item> = ["a", "b", "c"].iter().map(|i| Item((*i).into())).collect();
        let mut header = PlanHeader::new(HeaderFields {
            kind: "test",
            run_id: "r",
            snapshot_time: now - HOUR,
            now,
            wall_clock: now,
            ttl_hours: 72,
            what_if,
            catalog_sha256: "c".into(),
            planned_by: Some(PLANNER.into()),
            config: binding(90),
            store: "memory://",
        });
        header.items_sha256 = items_sha256(items.iter().map(|i| i.0.as_str()));
        Plan {
            header: Header {
                plan: header,
                count: 3,
            },
            items,
        }
    }

    async fn recorded(p: &Plan) -> Store {
        let store = Store::in_memory();
        let parts = record_parts(&p.plan_id());
        store
            .put_object(
                &[&parts[0], &parts[1]],
                serde_json::to_vec(&p.record()).expect("json"),
            )
            .await
            .expect("record");
        store
    }

    fn gate<'a>(store: &'a Store, b: &'a Binding, execute: bool, required: u32) -> Gate<'a> {
        Gate {
            path: "plan.json",
            store,
            now: NOW + HOUR,
            execute,
            binding: Some(b),
            approvals: ApprovalPolicy {
                required,
                must_differ: true,
            },
        }
    }

    #[tokio::test]
    async fn a_recorded_plan_and_its_subsets_pass_an_extension_does_not() {
        let p = plan(NOW, WhatIf::new());
        let store = recorded(&p).await;
        let b = binding(90);
        let admitted = admit(&p, &gate(&store, &b, true, 0))
            .await
            .expect("as planned");
        assert_eq!(admitted.approved, None);
        assert!(admitted.warnings.is_empty());

        let mut cut = p.clone();
        cut.items.remove(1);
        admit(&cut, &gate(&store, &b, true, 0))
            .await
            .expect("a subset");

        let mut extended = p.clone();
        extended.items.push(Item("d".into()));
        let err = admit(&extended, &gate(&store, &b, true, 0))
            .await
            .expect_err("extended");
        assert!(err.to_string().contains("item 3 (thing d"), "{err}");

        let mut edited = p.clone();
        edited.header.plan.expires_at = "2030-01-01T00:00:00Z".into();
        let err = admit(&edited, &gate(&store, &b, true, 0))
            .await
            .expect_err("edited header");
        assert!(err.to_string().contains("header.expires_at"), "{err}");

        let elsewhere = Store::in_memory();
        let err = admit(&p, &gate(&elsewhere, &b, true, 0))
            .await
            .expect_err("no record");
        assert!(err.to_string().contains("header.*"), "{err}");
    }

    #[tokio::test]
    async fn a_plan_recorded_with_a_lifetime_past_the_bound_is_refused() {
        let b = binding(90);
        let mut p = plan(NOW, WhatIf::new());
        p.header.plan.expires_at = rfc3339(NOW + MAX_PLAN_LIFETIME_HOURS * HOUR);
        let store = recorded(&p).await;
        admit(&p, &gate(&store, &b, true, 0))
            .await
            .expect("720 hours is the longest lifetime");
        for hours in [MAX_PLAN_LIFETIME_HOURS + 1, 100_000] {
            p.header.plan.expires_at = rfc3339(NOW + hours * HOUR);
            let store = recorded(&p).await;
            for execute in [true, false] {
                let err = admit(&p, &gate(&store, &b, execute, 0))
                    .await
                    .expect_err("a lifetime past the bound");
                assert!(err.to_string().contains("more than 720 hours"), "{err}");
                assert_eq!(err.exit_code(), 2);
            }
        }
    }

    #[tokio::test]
    async fn a_plan_naming_another_store_is_refused() {
        let mut p = plan(NOW, WhatIf::new());
        p.header.plan.store = "s3://other/prefix".into();
        let store = recorded(&p).await;
        let b = binding(90);
        let err = admit(&p, &gate(&store, &b, false, 0))
            .await
            .expect_err("other store");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("s3://other/prefix"), "{err}");
    }

    #[tokio::test]
    async fn what_if_and_future_plans_are_shown_never_applied() {
        let b = binding(90);
        let ahead = plan(NOW + 200 * 24 * HOUR, WhatIf::new());
        let mut future = ahead.clone();
        // A plan whose real clock is in the future too: refused on two counts.
        future.header.plan.planned_at = future.header.plan.created_at.clone();
        for p in [&ahead, &future] {
            let store = recorded(p).await;
            let mut g = gate(&store, &b, true, 0);
            g.now = NOW;
            let err = admit(p, &g).await.expect_err("applied");
            assert_eq!(err.exit_code(), 2);
            assert!(
                err.to_string().contains("what-if") || err.to_string().contains("later than now"),
                "{err}"
            );
            g.execute = false;
            let dry = admit(p, &g).await.expect("a dry run shows it");
            assert!(!dry.warnings.is_empty());
        }
        let custom = plan(NOW, WhatIf::new().because("--sql-dir my-rules/"));
        let store = recorded(&custom).await;
        let err = admit(&custom, &gate(&store, &b, true, 0))
            .await
            .expect_err("custom catalog");
        assert!(err.to_string().contains("--sql-dir my-rules/"), "{err}");
    }

    #[tokio::test]
    async fn expiry_is_checked_on_the_clock_given() {
        let p = plan(NOW, WhatIf::new());
        let store = recorded(&p).await;
        let b = binding(90);
        let mut g = gate(&store, &b, true, 0);
        g.now = NOW + 73 * HOUR;
        let err = admit(&p, &g).await.expect_err("expired");
        assert!(err.to_string().contains("has passed"), "{err}");
    }

    #[tokio::test]
    async fn a_changed_or_missing_configuration_is_refused_naming_the_keys() {
        let p = plan(NOW, WhatIf::new());
        let store = recorded(&p).await;
        let changed = binding(30);
        let err = admit(&p, &gate(&store, &changed, false, 0))
            .await
            .expect_err("changed");
        assert!(err.to_string().contains("rules.unused_days"), "{err}");
        let defaults = Binding::new(false, binding(90).settings);
        let err = admit(&p, &gate(&store, &defaults, true, 0))
            .await
            .expect_err("no configuration");
        assert!(err.to_string().contains("--config"), "{err}");
    }

    fn approval(p: &Plan, arn: &str, items: &[&str]) -> Approval {
        Approval {
            plan_id: p.plan_id(),
            kind: "test".into(),
            principal_arn: arn.into(),
            principal: principal_key(arn),
            approved_at: "2026-12-01T00:00:00Z".into(),
            item_ids: items.iter().map(|i| (*i).to_owned()).collect(),
            comment: None,
            tool_version: "0".into(),
        }
    }

    #[tokio::test]
    async fn approvals_count_only_from_others_and_narrow_the_items() {
        let p = plan(NOW, WhatIf::new());
        let store = recorded(&p).await;
        let b = binding(90);
        let err = admit(&p, &gate(&store, &b, true, 1))
            .await
            .expect_err("no approval");
        assert!(err.to_string().contains("needs 1 approval"), "{err}");

        // The planner's own role, under another session name, does not count.
        let own = "arn:aws:sts::111122223333:assumed-role/Planner/alice";
        write_approval(&store, &approval(&p, own, &["a", "b", "c"]))
            .await
            .expect("recorded");
        let err = admit(&p, &gate(&store, &b, true, 1))
            .await
            .expect_err("only the planner");
        assert!(err.to_string().contains("(the planner)"), "{err}");
        let dry = admit(&p, &gate(&store, &b, false, 1))
            .await
            .expect("a dry run");
        assert_eq!(dry.warnings.len(), 1, "{:?}", dry.warnings);

        let alice = "arn:aws:sts::111122223333:assumed-role/Reviewer/alice";
        write_approval(&store, &approval(&p, alice, &["a", "b"]))
            .await
            .expect("recorded");
        let ok = admit(&p, &gate(&store, &b, true, 1))
            .await
            .expect("approved");
        assert_eq!(
            ok.approvers,
            vec!["arn:aws:iam::111122223333:role/Reviewer"]
        );
        let approved = ok.approved.expect("narrowed");
        assert_eq!(approved.len(), 2);
        assert!(!approved.contains("c"));

        let err = admit(&p, &gate(&store, &b, true, 2))
            .await
            .expect_err("two needed");
        assert!(err.to_string().contains("1 counted"), "{err}");
        let bob = "arn:aws:iam::111122223333:user/bob";
        write_approval(&store, &approval(&p, bob, &["b", "c"]))
            .await
            .expect("recorded");
        let both = admit(&p, &gate(&store, &b, true, 2)).await.expect("two");
        let approved = both.approved.expect("narrowed");
        assert_eq!(approved, HashSet::from(["b".to_owned()]));
    }

    #[tokio::test]
    async fn approvals_of_unplanned_items_or_without_a_planner_do_not_count() {
        let mut p = plan(NOW, WhatIf::new());
        let store = recorded(&p).await;
        let b = binding(90);
        let bob = "arn:aws:iam::111122223333:user/bob";
        write_approval(&store, &approval(&p, bob, &["a", "zz"]))
            .await
            .expect("recorded");
        let err = admit(&p, &gate(&store, &b, true, 1))
            .await
            .expect_err("forged items");
        assert!(err.to_string().contains("does not have"), "{err}");

        p.header.plan.planned_by = None;
        let store = recorded(&p).await;
        let err = admit(&p, &gate(&store, &b, true, 1))
            .await
            .expect_err("no planner");
        assert!(err.to_string().contains("names no planner"), "{err}");
    }
}
