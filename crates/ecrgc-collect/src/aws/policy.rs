//! Which accounts a repository policy lets pull.
//!
//! The answer feeds `repository_pullers`, which decides whose failed usage sources block a
//! repository (DESIGN.md pitfall 6). Every doubt resolves to "anyone" (`*`): a policy that
//! cannot be read, a service principal, a wildcard principal, a condition ecrgc does not
//! interpret. Over-reporting pullers can only block more images, never delete one.

use std::collections::BTreeSet;

use serde_json::Value;

/// The pull action every image pull needs.
const PULL_ACTION: &str = "ecr:batchgetimage";

/// Accounts (12 digits) or `*` that `policy` allows to pull, sorted.
pub(crate) fn puller_accounts(policy: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        out.insert("*".to_owned());
        return out;
    };
    for statement in one_or_many(doc.get("Statement")) {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        if statement.get("NotAction").is_some() || statement.get("NotPrincipal").is_some() {
            out.insert("*".to_owned());
            continue;
        }
        let allows_pull = one_or_many(statement.get("Action"))
            .filter_map(Value::as_str)
            .any(|a| wildcard_match(&a.to_ascii_lowercase(), PULL_ACTION));
        if !allows_pull {
            continue;
        }
        match statement.get("Principal") {
            Some(Value::String(s)) => {
                principal(s, &mut out);
            }
            Some(Value::Object(map)) => {
                for (kind, value) in map {
                    for p in one_or_many(Some(value)).filter_map(Value::as_str) {
                        if kind == "AWS" {
                            principal(p, &mut out);
                        } else {
                            // A service (lambda.amazonaws.com pulls for functions of any
                            // account the condition names) or a federated principal.
                            out.insert("*".to_owned());
                        }
                    }
                }
            }
            _ => {
                out.insert("*".to_owned());
            }
        }
    }
    out
}

fn principal(p: &str, out: &mut BTreeSet<String>) {
    let account = if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
        Some(p.to_owned())
    } else {
        // arn:PARTITION:iam::ACCOUNT:root / role/… / user/…, arn:…:sts::ACCOUNT:assumed-role/…
        p.strip_prefix("arn:")
            .and_then(|rest| rest.split(':').nth(3))
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned)
    };
    out.insert(account.unwrap_or_else(|| "*".to_owned()));
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

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn cross_account_pull_grants_name_their_accounts() {
        let p = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"pull","Effect":"Allow",
             "Principal":{"AWS":["arn:aws:iam::222222222222:root","333333333333"]},
             "Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]},
            {"Sid":"push","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444444444444:role/ci"},
             "Action":["ecr:PutImage"]},
            {"Sid":"deny","Effect":"Deny","Principal":"*","Action":"ecr:*"}]}"#;
        assert_eq!(puller_accounts(p), set(&["222222222222", "333333333333"]));
    }

    #[test]
    fn wildcards_services_and_unreadable_policies_mean_anyone() {
        let org = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:Batch*",
            "Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-123"}}}}"#;
        assert_eq!(puller_accounts(org), set(&["*"]));
        let lambda = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},
            "Action":["ecr:BatchGetImage"]}]}"#;
        assert_eq!(puller_accounts(lambda), set(&["*"]));
        assert_eq!(puller_accounts("not json"), set(&["*"]));
        let all = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:role/x"},"Action":"*"}]}"#;
        assert_eq!(puller_accounts(all), set(&["222222222222"]));
    }

    #[test]
    fn iam_wildcards_match() {
        assert!(wildcard_match("ecr:*", "ecr:batchgetimage"));
        assert!(wildcard_match("ecr:batch?etimage", "ecr:batchgetimage"));
        assert!(!wildcard_match("ecr:put*", "ecr:batchgetimage"));
        assert!(wildcard_match("*", "ecr:batchgetimage"));
    }
}
