//! The matching of references, the Lambda versions and aliases, the window, and the cache.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::checks::references::cache::{Cache, Reader};
use crate::checks::references::ecs::recent;
use crate::checks::references::found::{Found, RepositoryKey};
use crate::checks::references::lambda::{VersionImage, function_references};

fn d(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

const HOST: &str = "111111111111.dkr.ecr.eu-west-1.amazonaws.com";

fn app() -> RepositoryKey {
    RepositoryKey::new("111111111111", "eu-west-1", "app")
}

#[test]
fn references_match_by_digest_or_by_a_tag_the_image_carries() {
    let mut s = Found::default();
    let (a, b, c, dd) = (d('a'), d('b'), d('c'), d('d'));
    s.add(&format!("{HOST}/app@{a}"), None, "td:1");
    s.add(&format!("{HOST}/app:v2"), None, "td:2");
    s.add(&format!("{HOST}/app:v3"), Some(&c), "fn");
    s.add("docker.io/library/app:v2", None, "td:3");
    let repo = app();
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
    let other = RepositoryKey::new("111111111111", "eu-west-1", "other");
    assert!(s.matching(&other, &a, &["v2"]).is_none());
}

#[test]
fn a_service_pin_names_its_digest_after_the_tag_moved_on() {
    // The revision names `:live` and pins `a`; the tag now names `b`.
    let mut s = Found::default();
    let (a, b) = (d('a'), d('b'));
    s.add(&format!("{HOST}/app:live"), Some(&a), "revision/1");
    let repo = app();
    let pinned = s
        .matching(&repo, &a, &[])
        .expect("the pinned digest, untagged");
    assert_eq!(pinned.resource, "revision/1");
    assert!(
        s.matching(&repo, &b, &["live"]).is_some(),
        "the tag's image too"
    );
    assert!(s.matching(&repo, &b, &["other"]).is_none());
    // A digest reference never resolves through its tag.
    let mut s = Found::default();
    s.add(&format!("{HOST}/app:live@{a}"), Some(&a), "revision/2");
    assert!(s.matching(&repo, &b, &["live"]).is_none());
    // Something that is no digest is not taken for one.
    let mut s = Found::default();
    s.add(&format!("{HOST}/app:v1"), Some("latest"), "task");
    assert_eq!(
        s.matching(&repo, &b, &["v1"])
            .expect("by tag")
            .resolved_digest,
        None
    );
}

#[test]
fn every_endpoint_form_names_the_same_registry() {
    let mut s = Found::default();
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
    let repo = |r: &str| RepositoryKey::new("111111111111", r, "app");
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
    let mut s = Found::default();
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
    let key = |a: &str, r: &str, n: &str| RepositoryKey::new(a, r, n);
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

fn version(v: &str, image: Option<String>, resolved: Option<String>) -> VersionImage {
    VersionImage {
        version: v.into(),
        arn: format!("arn:aws:lambda:eu-west-1:333333333333:function:f:{v}"),
        image,
        resolved_digest: resolved,
    }
}

#[test]
fn a_published_version_and_its_alias_keep_the_digest_latest_moved_away_from() {
    let (a, b, c) = (d('a'), d('b'), d('c'));
    let versions = vec![
        // $LATEST now names `b` by tag; version 1 was published on `a`.
        version("$LATEST", Some(format!("{HOST}/app:v2")), Some(b.clone())),
        version("1", Some(format!("{HOST}/app@{a}")), Some(a.clone())),
        version("2", Some(format!("{HOST}/app:old")), Some(c.clone())),
        version("3", None, None),
    ];
    let aliases = vec![
        ("arn:alias:live".to_owned(), vec!["1".to_owned()]),
        // A weighted alias: its second version counts too; one not read adds nothing.
        (
            "arn:alias:canary".to_owned(),
            vec!["2".to_owned(), "9".to_owned()],
        ),
    ];
    let refs = function_references(&versions, &aliases);
    let mut s = Found::default();
    for r in &refs {
        s.add(&r.image, r.resolved_digest.as_deref(), &r.resource);
    }
    let repo = app();
    let by = |digest: &str, tags: &[&str]| {
        s.by_repo[&repo]
            .iter()
            .filter(|r| {
                r.digest.as_deref() == Some(digest)
                    || r.resolved_digest.as_deref() == Some(digest)
                    || (r.digest.is_none() && r.tag.as_deref().is_some_and(|t| tags.contains(&t)))
            })
            .map(|r| r.resource.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        by(&a, &[]),
        BTreeSet::from([
            "arn:aws:lambda:eu-west-1:333333333333:function:f:1".to_owned(),
            "arn:alias:live (version 1)".to_owned(),
        ])
    );
    // Version 2 named a tag that moved on: the digest it resolved stays in use.
    assert_eq!(
        by(&c, &[]),
        BTreeSet::from([
            "arn:aws:lambda:eu-west-1:333333333333:function:f:2".to_owned(),
            "arn:alias:canary (version 2)".to_owned(),
        ])
    );
    assert!(s.matching(&repo, &b, &[]).is_some(), "$LATEST's digest");
    assert!(s.matching(&repo, &d('e'), &["v9"]).is_none());
    assert_eq!(refs.len(), 5, "{refs:?}");
}

#[test]
fn inside_the_window_means_at_or_after_its_start_or_unknown() {
    assert!(recent(None, 100));
    assert!(recent(Some(100), 100));
    assert!(recent(Some(150), 100));
    assert!(!recent(Some(99), 100));
}

/// A reader that counts its readings and names, in each, the image `app@a` by a resource
/// carrying the reading's number; a place in `failing` fails.
struct Counting {
    reads: AtomicU64,
    failing: Vec<(String, String)>,
}

impl Reader for Counting {
    async fn read(&self, account: &str, region: &str) -> Found {
        let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        let mut found = Found::default();
        if self
            .failing
            .iter()
            .any(|(a, r)| a == account && r == region)
        {
            found
                .failures
                .push(format!("{account}/{region} ecs: denied"));
            return found;
        }
        found.add(
            &format!("{HOST}/app@{}", d('a')),
            None,
            &format!("{account}/{region} reading {n}"),
        );
        found
    }
}

fn places() -> Vec<(String, String)> {
    vec![
        ("111111111111".into(), "eu-west-1".into()),
        ("222222222222".into(), "us-east-1".into()),
    ]
}

#[tokio::test]
async fn readings_are_kept_until_older_than_the_maximum_age_then_read_again() {
    let cache = Cache::new(
        Counting {
            reads: AtomicU64::new(0),
            failing: vec![],
        },
        places(),
        Duration::from_secs(300),
        4,
    );
    let t0 = Instant::now();
    let view = cache.view_at(t0).await;
    assert_eq!(
        cache.reader.reads.load(Ordering::SeqCst),
        2,
        "one per place"
    );
    assert!(view.blocked().is_none());
    assert!(view.matching(&app(), &d('a'), &[]).is_some());
    assert_eq!(view.readings.len(), 2);
    // Young enough: nothing is read.
    cache.view_at(t0 + Duration::from_secs(300)).await;
    assert_eq!(cache.reader.reads.load(Ordering::SeqCst), 2);
    // Older than the maximum age: every place is read again.
    let later = cache.view_at(t0 + Duration::from_secs(301)).await;
    assert_eq!(cache.reader.reads.load(Ordering::SeqCst), 4);
    let first = later.matching(&app(), &d('a'), &[]).expect("found");
    assert!(
        first.resource.ends_with("reading 3") || first.resource.ends_with("reading 4"),
        "the new reading is the one used: {}",
        first.resource
    );
    // The age counts from the new reading.
    cache.view_at(t0 + Duration::from_secs(601)).await;
    assert_eq!(cache.reader.reads.load(Ordering::SeqCst), 4);
    cache.view_at(t0 + Duration::from_secs(602)).await;
    assert_eq!(cache.reader.reads.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn a_failed_reading_blocks_until_a_new_one_succeeds() {
    let cache = Cache::new(
        Counting {
            reads: AtomicU64::new(0),
            failing: vec![("222222222222".into(), "us-east-1".into())],
        },
        places(),
        Duration::from_secs(60),
        1,
    );
    let t0 = Instant::now();
    let why = cache.view_at(t0).await.blocked().expect("blocked");
    assert!(why.contains("222222222222/us-east-1 ecs: denied"), "{why}");
    // A failure is a reading too: it is kept for the maximum age, then read again.
    assert!(
        cache
            .view_at(t0 + Duration::from_secs(30))
            .await
            .blocked()
            .is_some()
    );
    assert_eq!(cache.reader.reads.load(Ordering::SeqCst), 2);
    cache.view_at(t0 + Duration::from_secs(61)).await;
    assert_eq!(cache.reader.reads.load(Ordering::SeqCst), 4);
}
