//! Workloads that started naming an image after the snapshot.
//!
//! The plan saw every reference up to the snapshot; the executor looks only for what is new
//! since, in every configured account and region:
//!
//! * ECS: ACTIVE task definitions not in the snapshot (ListTaskDefinitions, then
//!   DescribeTaskDefinition for the new ARNs only);
//! * Lambda: image functions changed since the snapshot (ListFunctions' LastModified, then
//!   GetFunction for ImageUri and ResolvedImageUri).
//!
//! A reference matches an image by digest, or by a tag the image carries. Image strings are
//! read by the parser the collectors use (`ecrgc_model::image_ref`), so every ECR endpoint
//! form (dual-stack, FIPS, China, `:443`) names its registry here as in the plan. A string
//! that names an ECR registry but does not parse matches every image of that registry (of
//! every region of the account when it names no region): which image it means is unknown,
//! as the plan's `usage_coverage_gap` guard reads it. A source that cannot be read is a
//! failure of the whole sweep: missing data is not absence of use, so the executor then
//! deletes nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aws_sdk_ecs::types::TaskDefinitionStatus;
use aws_sdk_lambda::types::PackageType;
use ecrgc_aws::{AccountSession, CallStats, Caller, Failure};
use ecrgc_model::image_ref::parse_image_ref;
use ecrgc_model::time::Micros;
use futures::StreamExt;

/// A repository: account, region, name.
pub type RepoKey = (String, String, String);

/// An image reference found live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReference {
    /// Tag named, if any.
    pub tag: Option<String>,
    /// Digest named, if any.
    pub digest: Option<String>,
    /// Digest the service resolved (Lambda's ResolvedImageUri).
    pub resolved_digest: Option<String>,
    /// The workload naming it.
    pub resource: String,
}

/// What the sweep found.
#[derive(Debug, Default)]
pub struct Sweep {
    by_repo: HashMap<RepoKey, Vec<NewReference>>,
    /// Unparsable references by the registry they name: account, and region when named.
    malformed: HashMap<(String, Option<String>), Vec<NewReference>>,
    /// Sources that could not be read, as `account/region source: error`.
    pub failures: Vec<String>,
    /// Workload resources examined.
    pub examined: u64,
}

impl Sweep {
    /// The first new reference naming the image `digest` (carrying `tags`) of `repo`.
    /// An unparsable reference to the registry of `repo` counts for every image of it.
    pub fn matching(&self, repo: &RepoKey, digest: &str, tags: &[&str]) -> Option<&NewReference> {
        let exact = self.by_repo.get(repo).and_then(|refs| {
            refs.iter().find(|r| {
                r.digest.as_deref() == Some(digest)
                    || r.resolved_digest.as_deref() == Some(digest)
                    || (r.digest.is_none() && r.tag.as_deref().is_some_and(|t| tags.contains(&t)))
            })
        });
        exact.or_else(|| {
            [Some(repo.1.clone()), None]
                .into_iter()
                .find_map(|region| self.malformed.get(&(repo.0.clone(), region)))
                .and_then(|refs| refs.first())
        })
    }

    fn add(&mut self, image: &str, resolved: Option<&str>, resource: &str) {
        let parsed = parse_image_ref(image);
        if parsed.is_malformed_ecr() {
            // Without an account it names no registry this sweep could protect.
            if let Some(account) = parsed.account_id {
                self.malformed
                    .entry((account, parsed.region))
                    .or_default()
                    .push(NewReference {
                        tag: None,
                        digest: None,
                        resolved_digest: None,
                        resource: format!(
                            "{resource} (unparsable reference {image:?}: {})",
                            parsed.parse_error.unwrap_or_default()
                        ),
                    });
            }
            return;
        }
        let (Some(account), Some(region)) = (parsed.account_id, parsed.region) else {
            return;
        };
        if !parsed.is_ecr {
            return;
        }
        let resolved_digest = resolved.and_then(|r| parse_image_ref(r).digest);
        self.by_repo
            .entry((account, region, parsed.repository))
            .or_default()
            .push(NewReference {
                tag: parsed.tag,
                digest: parsed.digest,
                resolved_digest,
                resource: resource.to_owned(),
            });
    }
}

/// Where and what to sweep.
pub struct SweepScope {
    /// The shared call gates.
    pub caller: Caller,
    /// A session per account (or why there is none).
    pub sessions: Vec<(String, Result<AccountSession, Failure>)>,
    /// Regions.
    pub regions: Vec<String>,
    /// Task definition ARNs the snapshot holds.
    pub known_task_definitions: HashSet<String>,
    /// The snapshot time.
    pub snapshot_time: Micros,
    /// Whether to read ECS.
    pub ecs: bool,
    /// Whether to read Lambda.
    pub lambda: bool,
    /// Account × region units read at once.
    pub parallel: usize,
}

/// Reads every configured account and region.
pub async fn sweep(scope: SweepScope) -> Sweep {
    let scope = Arc::new(scope);
    let mut units = Vec::new();
    for (account, session) in &scope.sessions {
        for region in &scope.regions {
            units.push((account.clone(), session.clone(), region.clone()));
        }
    }
    let results: Vec<Sweep> = futures::stream::iter(units)
        .map(|(account, session, region)| {
            let scope = scope.clone();
            async move {
                let mut found = Sweep::default();
                let session = match session {
                    Ok(s) => s,
                    Err(f) => {
                        found.failures.push(format!("{account}: {f}"));
                        return found;
                    }
                };
                let stats = CallStats::default();
                if scope.ecs
                    && let Err(f) = ecs(&scope, &session, &region, &stats, &mut found).await
                {
                    found.failures.push(format!("{account}/{region} ecs: {f}"));
                }
                if scope.lambda
                    && let Err(f) = lambda(&scope, &session, &region, &stats, &mut found).await
                {
                    found
                        .failures
                        .push(format!("{account}/{region} lambda: {f}"));
                }
                found
            }
        })
        .buffer_unordered(scope.parallel.max(1))
        .collect()
        .await;
    let mut all = Sweep::default();
    for r in results {
        for (k, v) in r.by_repo {
            all.by_repo.entry(k).or_default().extend(v);
        }
        for (k, v) in r.malformed {
            all.malformed.entry(k).or_default().extend(v);
        }
        all.failures.extend(r.failures);
        all.examined += r.examined;
    }
    all.failures.sort();
    all
}

async fn ecs(
    scope: &SweepScope,
    session: &AccountSession,
    region: &str,
    stats: &CallStats,
    found: &mut Sweep,
) -> Result<(), Failure> {
    let client = session.ecs(region);
    let account = session.account_id();
    let arns = scope
        .caller
        .paginate(account, region, "ecs:ListTaskDefinitions", stats, |token| {
            let call = client
                .list_task_definitions()
                .status(TaskDefinitionStatus::Active)
                .max_results(100)
                .set_next_token(token);
            async move {
                call.send().await.map(|o| {
                    (
                        o.task_definition_arns().to_vec(),
                        o.next_token().map(str::to_owned),
                    )
                })
            }
        })
        .await?;
    for arn in arns {
        if scope.known_task_definitions.contains(&arn) {
            continue;
        }
        let out = scope
            .caller
            .call(account, region, "ecs:DescribeTaskDefinition", stats, || {
                client
                    .describe_task_definition()
                    .task_definition(&arn)
                    .send()
            })
            .await?;
        found.examined += 1;
        for container in out
            .task_definition()
            .map(|td| td.container_definitions())
            .unwrap_or_default()
        {
            if let Some(image) = container.image() {
                found.add(image, None, &arn);
            }
        }
    }
    Ok(())
}

async fn lambda(
    scope: &SweepScope,
    session: &AccountSession,
    region: &str,
    stats: &CallStats,
    found: &mut Sweep,
) -> Result<(), Failure> {
    let client = session.lambda(region);
    let account = session.account_id();
    let changed = scope
        .caller
        .paginate(account, region, "lambda:ListFunctions", stats, |marker| {
            let call = client.list_functions().max_items(50).set_marker(marker);
            let since = scope.snapshot_time;
            async move {
                call.send().await.map(|o| {
                    let names = o
                        .functions()
                        .iter()
                        .filter(|f| f.package_type() == Some(&PackageType::Image))
                        .filter(|f| changed_since(f.last_modified(), since))
                        .filter_map(|f| f.function_arn().or(f.function_name()))
                        .map(str::to_owned)
                        .collect::<Vec<_>>();
                    (names, o.next_marker().map(str::to_owned))
                })
            }
        })
        .await?;
    for function in changed {
        let out = scope
            .caller
            .call(account, region, "lambda:GetFunction", stats, || {
                client.get_function().function_name(&function).send()
            })
            .await?;
        found.examined += 1;
        if let Some(code) = out.code()
            && let Some(uri) = code.image_uri()
        {
            found.add(uri, code.resolved_image_uri(), &function);
        }
    }
    Ok(())
}

/// Lambda's LastModified (`2026-11-21T10:00:00.000+0000`) after `since`; unreadable counts
/// as changed, so the function is looked at.
fn changed_since(last_modified: Option<&str>, since: Micros) -> bool {
    let Some(text) = last_modified else {
        return true;
    };
    chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(text))
        .map(|t| t.timestamp_micros() > since)
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn references_match_by_digest_or_by_a_tag_the_image_carries() {
        let mut s = Sweep::default();
        let host = "111111111111.dkr.ecr.eu-west-1.amazonaws.com";
        let (a, b, c, dd) = (d('a'), d('b'), d('c'), d('d'));
        s.add(&format!("{host}/app@{a}"), None, "td:1");
        s.add(&format!("{host}/app:v2"), None, "td:2");
        s.add(
            &format!("{host}/app:v3"),
            Some(&format!("{host}/app@{c}")),
            "fn",
        );
        s.add("docker.io/library/app:v2", None, "td:3");
        let repo = ("111111111111".into(), "eu-west-1".into(), "app".into());
        assert_eq!(
            s.matching(&repo, &a, &[]).expect("by digest").resource,
            "td:1"
        );
        assert_eq!(
            s.matching(&repo, &b, &["v2"]).expect("by tag").resource,
            "td:2"
        );
        assert_eq!(s.matching(&repo, &c, &[]).expect("resolved").resource, "fn");
        assert!(s.matching(&repo, &dd, &["v9"]).is_none());
        let other = ("111111111111".into(), "eu-west-1".into(), "other".into());
        assert!(s.matching(&other, &a, &["v2"]).is_none());
    }

    #[test]
    fn every_endpoint_form_names_the_same_registry() {
        let mut s = Sweep::default();
        let a = d('a');
        s.add(
            &format!("111111111111.dkr-ecr.eu-west-1.on.aws/app@{a}"),
            None,
            "dual",
        );
        s.add(
            "111111111111.dkr.ecr.eu-west-1.amazonaws.com:443/app:v2",
            None,
            "port",
        );
        s.add(
            "111111111111.dkr.ecr-fips.us-east-1.amazonaws.com/app:v3",
            None,
            "fips",
        );
        s.add(
            "111111111111.dkr.ecr.cn-north-1.amazonaws.com.cn/app:v4",
            None,
            "china",
        );
        let repo = |r: &str| ("111111111111".to_owned(), r.to_owned(), "app".to_owned());
        let found = |r: &str, digest: &str, tags: &[&str]| {
            s.matching(&repo(r), digest, tags)
                .map(|n| n.resource.clone())
        };
        assert_eq!(found("eu-west-1", &a, &[]).as_deref(), Some("dual"));
        assert_eq!(
            found("eu-west-1", &d('b'), &["v2"]).as_deref(),
            Some("port")
        );
        assert_eq!(
            found("us-east-1", &d('b'), &["v3"]).as_deref(),
            Some("fips")
        );
        assert_eq!(
            found("cn-north-1", &d('b'), &["v4"]).as_deref(),
            Some("china")
        );
        assert_eq!(found("us-east-1", &a, &["v2"]), None);
    }

    #[test]
    fn an_unparsable_reference_keeps_its_whole_registry() {
        let mut s = Sweep::default();
        s.add(
            "111111111111.dkr.ecr.eu-west-1.amazonaws.com:5000/app:v1",
            None,
            "td:1",
        );
        s.add(
            "222222222222.dkr.ecr.eu-west.amazonaws.com/svc:v1",
            None,
            "td:2",
        );
        s.add("dkr.ecr.us-east-1.amazonaws.com/app:v1", None, "td:3");
        let key = |a: &str, r: &str, n: &str| (a.to_owned(), r.to_owned(), n.to_owned());
        let hit = s
            .matching(&key("111111111111", "eu-west-1", "other"), &d('e'), &[])
            .expect("same registry, any repository");
        assert!(
            hit.resource.starts_with("td:1 (unparsable"),
            "{}",
            hit.resource
        );
        assert!(
            s.matching(&key("111111111111", "us-east-1", "app"), &d('e'), &["v1"])
                .is_none()
        );
        // No region named: every region of the account.
        for region in ["eu-west-1", "us-east-1"] {
            assert!(
                s.matching(&key("222222222222", region, "svc"), &d('e'), &[])
                    .is_some()
            );
        }
        // No account named: nothing to protect.
        assert!(
            s.matching(&key("333333333333", "us-east-1", "app"), &d('e'), &["v1"])
                .is_none()
        );
    }

    #[test]
    fn lambda_times_are_read_in_both_formats() {
        let since = ecrgc_model::time::parse_rfc3339("2026-11-21T00:00:00Z").expect("time");
        assert!(changed_since(Some("2026-11-21T10:00:00.000+0000"), since));
        assert!(!changed_since(Some("2026-11-20T10:00:00.000+0000"), since));
        assert!(!changed_since(Some("2026-11-20T10:00:00Z"), since));
        assert!(changed_since(Some("yesterday"), since));
        assert!(changed_since(None, since));
    }
}
