//! Which accounts a repository policy lets pull, and how far each grant reaches.
//!
//! The answer feeds `repository_pullers`, which the plan's `usage_coverage_gap` guard
//! compares with the collected scope (`collection_scope`) and the sources' outcomes
//! (`collection_coverage`): a repository that an account outside the scope may pull is of
//! unknown use (`out_of_scope`), and one that an account with a failed usage source may pull
//! is blocked too (`docs/pitfalls.md#p6`). Every doubt widens the grant, never narrows it:
//! over-reporting pullers can only block more images, never delete one.
//!
//! Only `Allow` statements whose `Action` matches `ecr:BatchGetImage` (the pull every image
//! pull needs; IAM wildcards honoured) grant a pull. `Deny` statements are ignored: they can
//! only take pulls away, and ignoring them is the conservative reading. Each grant is one
//! of (the `grant_kind` column):
//!
//! * `account`: an AWS principal naming an account (`123456789012`,
//!   `arn:PARTITION:iam::123456789012:root`, a role, user or assumed-role ARN of it), or the
//!   principal `*` narrowed by `aws:PrincipalAccount` to listed accounts;
//! * `organization`: the principal `*` narrowed by `aws:PrincipalOrgID` or
//!   `aws:PrincipalOrgPaths` to one organization (`o-…`, the first segment of an
//!   organization path): any account of it may pull, so it is covered only when the whole
//!   organization is collected;
//! * `public`: the principal `*` without such a condition: any AWS account, never covered;
//! * `service`: a service principal (e.g. `lambda.amazonaws.com`, which pulls for Lambda
//!   functions), for the accounts `aws:SourceAccount` or `aws:SourceArn` name, else for any
//!   account (`*`); `aws:SourceOrgID` / `aws:SourceOrgPaths` make it an `organization`
//!   grant;
//! * `unknown` (`*`): an unreadable policy, `NotPrincipal`, `NotAction`, federated or
//!   canonical-user principals, an AWS principal whose account cannot be read.
//!
//! A condition narrows only under the operators that compare the key to literal values
//! (`StringEquals`, `StringLike`, `StringEqualsIgnoreCase`, `ArnEquals`, `ArnLike`, their
//! `ForAnyValue:` forms) and only when every value is literal (no `*` or `?` in the account
//! or organization id). `…IfExists` and `ForAllValues:` operators match a request that
//! lacks the key, negated operators match everything else: none of them narrows.
//!
//! AWS sources: IAM User Guide, "AWS global condition context keys" (`aws:PrincipalAccount`,
//! `aws:PrincipalOrgID`, `aws:PrincipalOrgPaths`, `aws:SourceAccount`, `aws:SourceArn`,
//! `aws:SourceOrgID`, `aws:SourceOrgPaths`) and "IAM JSON policy elements: Condition
//! operators" (`…IfExists`, set operators); Amazon ECR User Guide, "Private repository
//! policy examples" (cross-account and organization-wide pull grants); AWS Lambda Developer
//! Guide, "Create a Lambda function using a container image" (the `lambda.amazonaws.com`
//! grant with an `aws:sourceArn` condition naming the functions' account).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// The pull action every image pull needs.
const PULL_ACTION: &str = "ecr:batchgetimage";

/// How far a grant reaches (`repository_pullers.grant_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum GrantKind {
    Account,
    Organization,
    Public,
    Service,
    Unknown,
}

impl GrantKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Organization => "organization",
            Self::Public => "public",
            Self::Service => "service",
            Self::Unknown => "unknown",
        }
    }
}

/// One `repository_pullers` row of a policy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Grant {
    /// 12 digits, or `*`.
    pub account: String,
    pub kind: GrantKind,
    /// The principal as written, or why the grant is `unknown`.
    pub principal: String,
    /// For `organization` grants.
    pub org_id: Option<String>,
}

impl Grant {
    fn new(account: &str, kind: GrantKind, principal: &str, org_id: Option<&str>) -> Self {
        Self {
            account: account.to_owned(),
            kind,
            principal: principal.to_owned(),
            org_id: org_id.map(str::to_owned),
        }
    }

    /// A grant that reaches any account because ecrgc cannot narrow it.
    pub(crate) fn unknown(why: &str) -> Self {
        Self::new("*", GrantKind::Unknown, why, None)
    }
}

/// The pull grants of `policy`, sorted and without duplicates.
pub(crate) fn pull_grants(policy: &str) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        out.insert(Grant::unknown("policy is not valid JSON"));
        return out;
    };
    for statement in one_or_many(doc.get("Statement")) {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        if statement.get("NotAction").is_some() {
            out.insert(Grant::unknown("NotAction"));
            continue;
        }
        let allows_pull = one_or_many(statement.get("Action"))
            .filter_map(Value::as_str)
            .any(|a| wildcard_match(&a.to_ascii_lowercase(), PULL_ACTION));
        if !allows_pull {
            continue;
        }
        if statement.get("NotPrincipal").is_some() {
            out.insert(Grant::unknown("NotPrincipal"));
            continue;
        }
        let empty = Map::new();
        let condition = statement
            .get("Condition")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        match statement.get("Principal") {
            Some(Value::String(p)) if p == "*" => everyone(p, condition, &mut out),
            Some(Value::Object(map)) => {
                for (kind, value) in map {
                    for p in one_or_many(Some(value)) {
                        let Some(p) = p.as_str() else {
                            out.insert(Grant::unknown("principal is not a string"));
                            continue;
                        };
                        match kind.as_str() {
                            "AWS" if p == "*" => everyone(p, condition, &mut out),
                            "AWS" => {
                                out.insert(match principal_account(p) {
                                    Some(a) => Grant::new(&a, GrantKind::Account, p, None),
                                    None => Grant::unknown(&format!("AWS principal {p}")),
                                });
                            }
                            "Service" => service(p, condition, &mut out),
                            other => {
                                out.insert(Grant::unknown(&format!("{other} principal {p}")));
                            }
                        }
                    }
                }
            }
            Some(other) => {
                out.insert(Grant::unknown(&format!("principal {other}")));
            }
            None => {
                out.insert(Grant::unknown("statement without Principal"));
            }
        }
    }
    out
}

/// The principal `*`: every AWS account unless a condition narrows it to accounts or to
/// organizations.
fn everyone(p: &str, condition: &Map<String, Value>, out: &mut BTreeSet<Grant>) {
    if let Some(accounts) = literal_values(condition, &["aws:principalaccount"], account_of_value) {
        for a in accounts {
            out.insert(Grant::new(&a, GrantKind::Account, p, None));
        }
    } else if let Some(orgs) = literal_values(
        condition,
        &["aws:principalorgid", "aws:principalorgpaths"],
        org_of_value,
    ) {
        for o in orgs {
            out.insert(Grant::new("*", GrantKind::Organization, p, Some(&o)));
        }
    } else {
        out.insert(Grant::new("*", GrantKind::Public, p, None));
    }
}

/// A service principal: it acts for the accounts its source conditions name.
fn service(p: &str, condition: &Map<String, Value>, out: &mut BTreeSet<Grant>) {
    if let Some(accounts) = literal_values(condition, &["aws:sourceaccount"], account_of_value)
        .or_else(|| literal_values(condition, &["aws:sourcearn"], account_of_arn))
    {
        for a in accounts {
            out.insert(Grant::new(&a, GrantKind::Service, p, None));
        }
    } else if let Some(orgs) = literal_values(
        condition,
        &["aws:sourceorgid", "aws:sourceorgpaths"],
        org_of_value,
    ) {
        for o in orgs {
            out.insert(Grant::new("*", GrantKind::Organization, p, Some(&o)));
        }
    } else {
        out.insert(Grant::new("*", GrantKind::Service, p, None));
    }
}

/// Operators that compare a key with the listed values and fail when the key is absent.
const NARROWING_OPERATORS: &[&str] = &[
    "stringequals",
    "stringlike",
    "stringequalsignorecase",
    "arnequals",
    "arnlike",
    "foranyvalue:stringequals",
    "foranyvalue:stringlike",
    "foranyvalue:stringequalsignorecase",
    "foranyvalue:arnequals",
    "foranyvalue:arnlike",
];

/// The values one of `keys` is compared with under a narrowing operator, each mapped by
/// `read`; `None` when no such comparison exists or one value cannot be read literally
/// (then the condition does not narrow the grant to known values). Keys and operators are
/// case-insensitive, as IAM reads them.
fn literal_values(
    condition: &Map<String, Value>,
    keys: &[&str],
    read: fn(&str) -> Option<String>,
) -> Option<BTreeSet<String>> {
    // Conditions of one statement are ANDed: any one narrowing comparison bounds the grant.
    for (operator, block) in condition {
        if !NARROWING_OPERATORS.contains(&operator.to_ascii_lowercase().as_str()) {
            continue;
        }
        let Some(block) = block.as_object() else {
            continue;
        };
        for (key, values) in block {
            if !keys.contains(&key.to_ascii_lowercase().as_str()) {
                continue;
            }
            let read: Option<BTreeSet<String>> = one_or_many(Some(values))
                .map(|v| v.as_str().and_then(read))
                .collect();
            if let Some(set) = read.filter(|s| !s.is_empty()) {
                return Some(set);
            }
        }
    }
    None
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn account_of_value(v: &str) -> Option<String> {
    is_account_id(v).then(|| v.to_owned())
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:…` → ACCOUNT, when literal.
fn account_of_arn(v: &str) -> Option<String> {
    v.strip_prefix("arn:")
        .and_then(|rest| rest.split(':').nth(3))
        .filter(|a| is_account_id(a))
        .map(str::to_owned)
}

/// `o-…` or an organization path `o-…/r-…/ou-…/…` → the organization id, when literal.
fn org_of_value(v: &str) -> Option<String> {
    let id = v.split('/').next().unwrap_or_default();
    let body = id.strip_prefix("o-")?;
    ((10..=32).contains(&body.len())
        && body
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
    .then(|| id.to_owned())
}

/// The account of an AWS principal: an account id, or the account field of an IAM or STS
/// ARN (`arn:PARTITION:iam::ACCOUNT:root`, `…:role/…`, `arn:…:sts::ACCOUNT:assumed-role/…`).
fn principal_account(p: &str) -> Option<String> {
    account_of_value(p).or_else(|| account_of_arn(p))
}

fn one_or_many(v: Option<&Value>) -> Box<dyn Iterator<Item = &Value> + '_> {
    match v {
        Some(Value::Array(items)) => Box::new(items.iter()),
        Some(other) => Box::new(std::iter::once(other)),
        None => Box::new(std::iter::empty()),
    }
}

/// IAM action matching: `*` any run of characters, `?` one character.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (account, kind, org) of each grant, sorted.
    fn grants(policy: &str) -> Vec<(String, &'static str, Option<String>)> {
        pull_grants(policy)
            .into_iter()
            .map(|g| (g.account, g.kind.as_str(), g.org_id))
            .collect()
    }

    fn row(
        account: &str,
        kind: &'static str,
        org: Option<&str>,
    ) -> (String, &'static str, Option<String>) {
        (account.to_owned(), kind, org.map(str::to_owned))
    }

    #[test]
    fn cross_account_pull_grants_name_their_accounts() {
        let p = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"pull","Effect":"Allow",
             "Principal":{"AWS":["arn:aws:iam::222222222222:root","333333333333",
                                 "arn:aws-cn:sts::555555555555:assumed-role/ci/x"]},
             "Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]},
            {"Sid":"push","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444444444444:role/ci"},
             "Action":["ecr:PutImage"]},
            {"Sid":"deny","Effect":"Deny","Principal":"*","Action":"ecr:*"}]}"#;
        assert_eq!(
            grants(p),
            vec![
                row("222222222222", "account", None),
                row("333333333333", "account", None),
                row("555555555555", "account", None),
            ]
        );
        let g = pull_grants(p);
        assert_eq!(
            g.iter().next().map(|g| g.principal.as_str()),
            Some("arn:aws:iam::222222222222:root")
        );
    }

    #[test]
    fn a_star_without_an_organization_condition_is_public() {
        for p in [
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage"}}"#,
            // a condition on another key does not narrow the accounts
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage",
                "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#,
            // IfExists matches requests without the key: principals outside any organization
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage",
                "Condition":{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}}"#,
            // a negated operator lets everyone else in
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage",
                "Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}}"#,
            // a wildcard organization is any organization
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage",
                "Condition":{"StringLike":{"aws:PrincipalOrgID":["o-a1b2c3d4e5","o-*"]}}}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage",
                "Condition":{"ForAllValues:StringLike":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/*"}}}}"#,
        ] {
            assert_eq!(grants(p), vec![row("*", "public", None)], "{p}");
        }
    }

    #[test]
    fn organization_conditions_name_the_organization() {
        let by_id = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:Batch*",
            "Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}}"#;
        assert_eq!(
            grants(by_id),
            vec![row("*", "organization", Some("o-a1b2c3d4e5"))]
        );
        let by_path = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:*",
            "Condition":{"ForAnyValue:StringLike":{"AWS:PrincipalOrgPaths":[
                "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*","o-zzzzzzzzzz/r-cd34/*"]}}}}"#;
        assert_eq!(
            grants(by_path),
            vec![
                row("*", "organization", Some("o-a1b2c3d4e5")),
                row("*", "organization", Some("o-zzzzzzzzzz")),
            ]
        );
        // An explicit account with an organization condition stays that account.
        let both = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"222222222222"},
            "Action":"ecr:BatchGetImage",
            "Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}}"#;
        assert_eq!(grants(both), vec![row("222222222222", "account", None)]);
        // aws:PrincipalAccount narrows `*` to accounts.
        let accounts = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage",
            "Condition":{"StringEquals":{"aws:PrincipalAccount":["222222222222","333333333333"]}}}}"#;
        assert_eq!(
            grants(accounts),
            vec![
                row("222222222222", "account", None),
                row("333333333333", "account", None)
            ]
        );
    }

    #[test]
    fn service_principals_reach_the_accounts_their_conditions_name() {
        let lambda_arn = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},
            "Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],
            "Condition":{"StringLike":{"aws:sourceArn":"arn:aws:lambda:eu-west-1:222222222222:function:*"}}}]}"#;
        assert_eq!(
            grants(lambda_arn),
            vec![row("222222222222", "service", None)]
        );
        let source_account = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com"]},
            "Action":"ecr:BatchGetImage",
            "Condition":{"StringEquals":{"aws:SourceAccount":["333333333333"]}}}]}"#;
        assert_eq!(
            grants(source_account),
            vec![row("333333333333", "service", None)]
        );
        let bare = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},
            "Action":["ecr:BatchGetImage"]}]}"#;
        assert_eq!(grants(bare), vec![row("*", "service", None)]);
        // A wildcard account in the ARN names no account.
        let wild = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},
            "Action":["ecr:BatchGetImage"],
            "Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:lambda:*:*:function:*"}}}]}"#;
        assert_eq!(grants(wild), vec![row("*", "service", None)]);
    }

    #[test]
    fn what_cannot_be_read_means_anyone() {
        for p in [
            "not json",
            r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"222222222222"},"Action":"ecr:*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"222222222222"},"NotAction":"ecr:PutImage"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"ecr:*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::*:root"},"Action":"ecr:*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"ecr:BatchGetImage"}}"#,
        ] {
            assert_eq!(grants(p), vec![row("*", "unknown", None)], "{p}");
        }
        // Grants that do not include pulling add nothing.
        let push =
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":["ecr:PutImage"]}]}"#;
        assert!(grants(push).is_empty());
        let all = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:role/x"},"Action":"*"}]}"#;
        assert_eq!(grants(all), vec![row("222222222222", "account", None)]);
    }

    #[test]
    fn iam_wildcards_match() {
        assert!(wildcard_match("ecr:*", "ecr:batchgetimage"));
        assert!(wildcard_match("ecr:batch?etimage", "ecr:batchgetimage"));
        assert!(!wildcard_match("ecr:put*", "ecr:batchgetimage"));
        assert!(wildcard_match("*", "ecr:batchgetimage"));
    }

    #[test]
    fn organization_ids_are_read_literally() {
        assert_eq!(
            org_of_value("o-a1b2c3d4e5").as_deref(),
            Some("o-a1b2c3d4e5")
        );
        assert_eq!(
            org_of_value("o-a1b2c3d4e5/r-ab12/*").as_deref(),
            Some("o-a1b2c3d4e5")
        );
        for v in [
            "o-*",
            "o-a1b2*",
            "*",
            "o-short",
            "r-ab12/o-a1b2c3d4e5",
            "O-A1B2C3D4E5",
        ] {
            assert_eq!(org_of_value(v), None, "{v}");
        }
    }
}
