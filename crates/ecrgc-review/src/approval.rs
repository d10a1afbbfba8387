//! Approvals: a reviewer's signed-off subset of a plan, recorded in the store.
//!
//! `ecrgc approve PLAN` writes one object per principal under
//! `_approvals/<plan_id>/<principal hash>.json`, create-if-absent: an approval is never
//! replaced or withdrawn by a later write, and one principal approves a plan once. It holds
//! the STS caller ARN of the reviewer, the time, and the item ids of the file the reviewer
//! approved (a reviewer may remove items first).
//!
//! **Principals.** Approvals are counted per principal, and an assumed-role session counts
//! as its role: `arn:aws:sts::111122223333:assumed-role/Reviewer/alice` is the principal
//! `arn:aws:iam::111122223333:role/Reviewer`. Whoever may assume a role chooses the session
//! name (`RoleSessionName` is a request parameter of STS AssumeRole, see the STS API
//! Reference), so session names cannot tell two people apart, and a planner role must not be
//! able to approve its own plan under another session name. Give each reviewer a role (or an
//! IAM user) of their own, distinct from the planner's.
//!
//! **Trust.** The store is the boundary: the IAM policies in the README let only reviewer
//! roles write `_approvals/`, and deny it to the planner and executor roles. The principal
//! an approval names is the one STS returned to the `approve` command.

use ecrgc_store::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::digest::hex;
use crate::{Result, ReviewError};

/// Where approvals live in the store.
pub const APPROVALS_FOLDER: &str = "_approvals";

/// One reviewer's approval of a plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Approval {
    /// The plan approved.
    pub plan_id: String,
    /// Its kind.
    pub kind: String,
    /// The reviewer, as STS GetCallerIdentity named them.
    pub principal_arn: String,
    /// The principal approvals are counted by ([`principal_key`]).
    pub principal: String,
    /// When, RFC 3339.
    pub approved_at: String,
    /// The item ids the reviewer approved, in plan order.
    pub item_ids: Vec<String>,
    /// The reviewer's comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// ecrgc version that recorded it.
    pub tool_version: String,
}

/// The principal an identity counts as: an assumed-role session is its role (see the module
/// documentation); any other ARN is itself.
pub fn principal_key(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if let [prefix, partition, "sts", "", account, resource] = parts.as_slice()
        && let Some(rest) = resource.strip_prefix("assumed-role/")
        && let Some((role, _session)) = rest.split_once('/')
    {
        return format!("{prefix}:{partition}:iam::{account}:role/{role}");
    }
    arn.to_owned()
}

/// Where the approval of `plan_id` by `principal` lives.
pub fn approval_parts(plan_id: &str, principal: &str) -> [String; 3] {
    let key = hex(&Sha256::digest(principal.as_bytes()));
    [
        APPROVALS_FOLDER.to_owned(),
        plan_id.to_owned(),
        format!("{}.json", &key[..16]),
    ]
}

/// Records `approval`, unless its principal approved the plan already.
pub async fn write_approval(store: &Store, approval: &Approval) -> Result<()> {
    let parts = approval_parts(&approval.plan_id, &approval.principal);
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let body = serde_json::to_vec_pretty(approval).unwrap_or_default();
    if store.put_object_if_absent(&parts, body).await? {
        return Ok(());
    }
    let earlier = store
        .get_object(&parts)
        .await?
        .and_then(|b| serde_json::from_slice::<Approval>(&b).ok());
    Err(ReviewError::AlreadyApproved {
        plan_id: approval.plan_id.clone(),
        principal: approval.principal.clone(),
        approved_at: earlier.map_or_else(|| "an unknown time".into(), |a| a.approved_at),
    })
}

/// Every approval recorded for `plan_id`: the object name, and the approval or why it
/// cannot be read.
pub async fn read_approvals(
    store: &Store,
    plan_id: &str,
) -> Result<Vec<(String, std::result::Result<Approval, String>)>> {
    let mut out = Vec::new();
    for name in store.list_objects(&[APPROVALS_FOLDER, plan_id]).await? {
        let Some(bytes) = store
            .get_object(&[APPROVALS_FOLDER, plan_id, &name])
            .await?
        else {
            continue;
        };
        let parsed = serde_json::from_slice::<Approval>(&bytes).map_err(|e| e.to_string());
        out.push((name, parsed));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_of_one_role_are_one_principal() {
        assert_eq!(
            principal_key("arn:aws:sts::111122223333:assumed-role/Reviewer/alice"),
            "arn:aws:iam::111122223333:role/Reviewer"
        );
        assert_eq!(
            principal_key("arn:aws-cn:sts::111122223333:assumed-role/R/x/y"),
            "arn:aws-cn:iam::111122223333:role/R"
        );
        for arn in [
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:iam::111122223333:root",
            "arn:aws:sts::111122223333:federated-user/bob",
            "not an arn",
        ] {
            assert_eq!(principal_key(arn), arn);
        }
    }

    fn approval(principal: &str) -> Approval {
        Approval {
            plan_id: "p".into(),
            kind: "deletion".into(),
            principal_arn: format!("{principal}/session"),
            principal: principal.into(),
            approved_at: "2026-12-01T00:00:00Z".into(),
            item_ids: vec!["a".into()],
            comment: None,
            tool_version: "0".into(),
        }
    }

    #[tokio::test]
    async fn one_approval_per_principal_never_replaced() {
        let store = Store::in_memory();
        write_approval(&store, &approval("arn:aws:iam::1:role/A"))
            .await
            .expect("first");
        write_approval(&store, &approval("arn:aws:iam::1:role/B"))
            .await
            .expect("another principal");
        let mut again = approval("arn:aws:iam::1:role/A");
        again.item_ids.clear();
        let err = write_approval(&store, &again).await.expect_err("twice");
        assert!(err.to_string().contains("already approved"), "{err}");
        let read = read_approvals(&store, "p").await.expect("read");
        assert_eq!(read.len(), 2);
        assert!(
            read.iter()
                .all(|(_, a)| a.as_ref().expect("parses").item_ids == vec!["a"])
        );
    }
}
