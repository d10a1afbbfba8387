//! The FinOps report over a small organization: index bytes, owners, prices, archive, layer
//! sharing and the trend.

use std::sync::Arc;

use datafusion::datasource::MemTable;
use ecrgc_model::{PlanTotalRow, PlanTotalsBuilder};

use super::*;

const A: &str = "111111111111";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
const GB: i64 = 1 << 30;

/// A session with a small organization: `app` in eu-west-1 (team `web`) with an index
/// whose two children and the index itself are deleted, a deleted single image and a
/// kept one sharing a layer with it; `db` in us-east-1 (untagged) with one image
/// flagged in a repository that is not opted in and one protected.
async fn session(with_layers: bool, earlier: Option<RecordBatch>) -> SessionContext {
    let ctx = SessionContext::new();
    let run = |sql: String| {
        let ctx = ctx.clone();
        async move {
            ctx.sql(&sql)
                .await
                .expect("plans")
                .collect()
                .await
                .expect("runs");
        }
    };
    let decisions = [
        (
            "delete",
            Some("never_used"),
            None,
            "app",
            "sha256:idx",
            INDEX,
            2 * GB,
        ),
        ("delete", None, None, "app", "sha256:amd", IMAGE, 2 * GB),
        ("delete", None, None, "app", "sha256:arm", IMAGE, GB),
        (
            "delete",
            Some("stale"),
            None,
            "app",
            "sha256:old",
            IMAGE,
            4 * GB,
        ),
        (
            "not_opted_in",
            Some("stale"),
            None,
            "db",
            "sha256:db1",
            IMAGE,
            3 * GB,
        ),
        (
            "protected",
            Some("stale"),
            Some("recent_pull"),
            "db",
            "sha256:db2",
            IMAGE,
            GB,
        ),
    ];
    let rows = decisions
        .iter()
        .map(|(st, rule, reason, repo, d, m, size)| {
            let region = if *repo == "app" {
                "eu-west-1"
            } else {
                "us-east-1"
            };
            let q = |o: &Option<&str>| o.map_or("NULL".to_owned(), |v| format!("'{v}'"));
            format!(
                "('{st}', {}, {}, '{A}', '{region}', '{repo}', '{d}', '{m}', {size})",
                q(rule),
                q(reason)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    run(format!(
        "CREATE TABLE decisions (status VARCHAR, rule VARCHAR, reason VARCHAR, \
         account_id VARCHAR, region VARCHAR, repository_name VARCHAR, image_digest VARCHAR, \
         image_manifest_media_type VARCHAR, image_size_bytes BIGINT) AS VALUES {rows}"
    ))
    .await;
    // Every image of the run: the decided ones, a kept image in `app`, and one archived.
    run(format!(
        "CREATE TABLE images AS \
         SELECT account_id, region, repository_name, image_digest, \
                image_manifest_media_type, image_size_bytes, 'ACTIVE' AS image_status \
         FROM decisions \
         UNION ALL SELECT '{A}', 'eu-west-1', 'app', 'sha256:new', '{IMAGE}', {}, 'ACTIVE' \
         UNION ALL SELECT '{A}', 'us-east-1', 'db', 'sha256:arc', '{IMAGE}', {}, 'ARCHIVED'",
        5 * GB,
        10 * GB
    ))
    .await;
    run(format!(
        "CREATE TABLE repository_tags (account_id VARCHAR, region VARCHAR, \
         repository_name VARCHAR, tag_key VARCHAR, tag_value VARCHAR) AS VALUES \
         ('{A}', 'eu-west-1', 'app', 'team', 'web'), \
         ('{A}', 'us-east-1', 'db', 'cost-center', 'cc-1')"
    ))
    .await;
    if with_layers {
        // `old` shares `base` with the kept `new`; its own `top` is freed; the two
        // children share `arch` with nothing outside the manifest. A foreign layer
        // (stored elsewhere) frees nothing.
        let layers = [
            ("sha256:amd", "sha256:l-amd", GB),
            ("sha256:amd", "sha256:arch", GB / 2),
            ("sha256:arm", "sha256:arch", GB / 2),
            ("sha256:old", "sha256:base", 3 * GB),
            ("sha256:old", "sha256:top", GB),
            ("sha256:new", "sha256:base", 3 * GB),
            ("sha256:new", "sha256:top2", 2 * GB),
        ]
        .iter()
        .map(|(d, l, s)| format!("('{A}', 'eu-west-1', 'app', '{d}', '{l}', {s}, 'layer')"))
        .collect::<Vec<_>>()
        .join(", ");
        run(format!(
            "CREATE TABLE image_layers (account_id VARCHAR, region VARCHAR, \
             repository_name VARCHAR, image_digest VARCHAR, layer_digest VARCHAR, \
             layer_size_bytes BIGINT, layer_kind VARCHAR) AS VALUES {layers}, \
             ('{A}', 'eu-west-1', 'app', 'sha256:old', 'sha256:win', {foreign}, 'foreign')",
            foreign = 5 * GB
        ))
        .await;
    }
    let earlier = earlier.unwrap_or_else(|| PlanTotalsBuilder::new("r0", 0, 0).finish());
    let table = MemTable::try_new(earlier.schema(), vec![vec![earlier]]).expect("table");
    ctx.register_table("earlier_plan_totals", Arc::new(table))
        .expect("registers");
    ctx
}

async fn report(ctx: &SessionContext, pricing: &PricingConfig) -> Computed {
    compute(&ReportSpec {
        ctx,
        run_id: "r2",
        snapshot_time: 2 * ecrgc_model::time::DAY,
        now: 2 * ecrgc_model::time::DAY,
        pricing,
        report: &ReportConfig::default(),
    })
    .await
    .expect("computes")
}

fn group<'a>(groups: &'a [Group], key: &str) -> &'a Group {
    groups
        .iter()
        .find(|g| g.key == key)
        .unwrap_or_else(|| panic!("no group {key} in {groups:?}"))
}

#[tokio::test]
async fn an_index_counts_its_children_once_and_nothing_of_its_own() {
    let ctx = session(false, None).await;
    let r = report(&ctx, &PricingConfig::default()).await.report;
    // idx (0) + amd (2) + arm (1) + old (4): not the index's reported 2 GiB on top.
    assert_eq!(r.delete.images, 4);
    assert_eq!(r.delete.bytes, 7 << 30);
    assert_eq!(r.delete.monthly_usd, 0.7);
    assert_eq!(r.savings.delete_yearly_usd, 8.4);
    // Children deleted with their index go under `with_parent`, the index under its rule.
    assert_eq!(group(&r.by_rule, "never_used").bytes, 0);
    assert_eq!(group(&r.by_rule, "with_parent").bytes, 3 << 30);
    assert_eq!(group(&r.by_rule, "stale").bytes, 4 << 30);
    assert_eq!(group(&r.by_rule, "stale").not_opted_in_bytes, 3 << 30);
    // Stored: every image, the archived one at the archive price.
    assert_eq!(r.stored.bytes, (7 + 5 + 3 + 1 + 10) << 30);
    assert_eq!(r.stored_archived.bytes, 10 << 30);
    assert_eq!(r.stored.monthly_usd, 1.7);
    assert_eq!(
        r.savings.freed_bytes, None,
        "no layer table, no freed figure"
    );
}

#[tokio::test]
async fn owners_regions_prices_and_archive_follow_the_config() {
    let ctx = session(false, None).await;
    let mut pricing = PricingConfig::default();
    pricing.regions.insert("eu-west-1".into(), 0.2);
    let r = report(&ctx, &pricing).await.report;
    assert_eq!(r.delete.monthly_usd, 1.4, "7 GiB at the eu-west-1 price");
    assert_eq!(group(&r.by_owner, "web").bytes, 7 << 30);
    assert_eq!(group(&r.by_owner, NO_OWNER).not_opted_in_bytes, 3 << 30);
    assert_eq!(group(&r.by_region, "us-east-1").not_opted_in_images, 1);
    assert_eq!(group(&r.by_account, A).stored_bytes, 26 << 30);
    assert_eq!(group(&r.protected_by_reason, "recent_pull").images, 1);
    assert_eq!(
        r.top_repositories.len(),
        1,
        "only repositories with a manifest share"
    );
    // Archive: 7 GiB at 0.01 = 0.07 a month, 90 days = 0.21; saves 1.4 - 0.07.
    assert_eq!(r.savings.archive_monthly_cost_usd, 0.07);
    assert_eq!(r.savings.archive_minimum_charge_usd, 0.21);
    assert_eq!(r.savings.archive_monthly_usd, 1.33);
}

#[tokio::test]
async fn layers_shared_with_a_kept_image_are_not_freed() {
    let ctx = session(true, None).await;
    let r = report(&ctx, &PricingConfig::default()).await.report;
    // Freed: l-amd (1) + arch (0.5, counted once) + top (1); base stays with `new`.
    assert_eq!(r.savings.freed_bytes, Some((5 << 30) / 2));
    assert_eq!(
        group(&r.by_repository, &format!("{A}/eu-west-1/app")).freed_bytes,
        Some((5 << 30) / 2)
    );
    assert_eq!(r.layers.repositories, 1);
    assert_eq!(r.layers.repositories_with_layers, 1);
    assert_eq!(
        group(&r.by_rule, "stale").freed_bytes,
        None,
        "not a per-rule figure"
    );
}

#[tokio::test]
async fn a_repository_with_an_image_missing_its_layers_has_no_freed_figure() {
    let ctx = session(true, None).await;
    // `new` shares the repository with the manifest but has no layer rows.
    let kept = ctx
        .sql("SELECT * FROM image_layers WHERE image_digest <> 'sha256:new'")
        .await
        .expect("plans")
        .collect()
        .await
        .expect("runs");
    let schema = kept[0].schema();
    ctx.deregister_table("image_layers").expect("deregisters");
    ctx.register_table(
        "image_layers",
        Arc::new(MemTable::try_new(schema, vec![kept]).expect("table")),
    )
    .expect("registers");
    let r = report(&ctx, &PricingConfig::default()).await.report;
    assert_eq!(r.savings.freed_bytes, None);
    assert_eq!(r.layers.repositories_with_layers, 0);
}

#[tokio::test]
async fn the_trend_joins_earlier_plans_and_this_one() {
    let mut b = PlanTotalsBuilder::new("r1", ecrgc_model::time::DAY, 2);
    for (status, images, bytes) in [
        ("stored", 10, 100),
        ("delete", 3, 30),
        ("not_opted_in", 1, 5),
    ] {
        b.append(PlanTotalRow {
            planned_at: ecrgc_model::time::DAY,
            status,
            rule: None,
            account_id: A,
            region: "eu-west-1",
            repository_name: "app",
            owner: None,
            images,
            bytes,
        });
    }
    let ctx = session(false, Some(b.finish())).await;
    let computed = report(&ctx, &PricingConfig::default()).await;
    let t = &computed.report.trend;
    assert_eq!(t.len(), 2);
    assert_eq!(
        (
            t[0].run_id.as_str(),
            t[0].stored_bytes,
            t[0].unused_bytes,
            t[0].candidate_images
        ),
        ("r1", 100, 35, 3)
    );
    assert_eq!(t[1].run_id, "r2");
    assert_eq!(t[1].candidate_bytes, 7 << 30);
    assert_eq!(t[1].stored_images, 8);
    // The rows this plan stores: one per repository × status × rule.
    assert_eq!(computed.totals.num_rows(), 8);
    let csv = crate::output::render_report(&computed.report, crate::output::ReportFormat::Csv)
        .expect("renders");
    let csv = String::from_utf8(csv).expect("utf-8");
    assert!(
        csv.starts_with("dimension,key,images,bytes,monthly_usd,yearly_usd,freed_bytes"),
        "{csv}"
    );
    assert!(
        csv.contains("\ntotal,manifest,4,7516192768,0.7,8.4,,1,3221225472,27917287424\n"),
        "{csv}"
    );
}
