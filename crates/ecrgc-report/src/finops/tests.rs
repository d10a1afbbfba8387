//! The FinOps report over a small organization: index bytes, owners, prices, archive, layer
//! sharing and the trend.

use std::sync::Arc;

use datafusion::datasource::MemTable;
use ecrgc_model::{PlanTotalRow, PlanTotalsBuilder};

use super::*;

const A: &str = "111111111111";
const INDEX: &str = ecrgc_model::vocabulary::media_type::OCI_INDEX;
const IMAGE: &str = ecrgc_model::vocabulary::media_type::OCI_MANIFEST;
const GB: i64 = 1 << 30;

/// A table of text and integer columns, registered under `name`.
fn table(ctx: &SessionContext, name: &str, text: &[&str], ints: &[&str], rows: &[Vec<Value>]) {
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (n, name) in text.iter().enumerate() {
        fields.push(Field::new(*name, DataType::Utf8, true));
        let values: Vec<Option<&str>> = rows.iter().map(|r| r[n].text()).collect();
        columns.push(Arc::new(StringArray::from(values)));
    }
    for (n, name) in ints.iter().enumerate() {
        fields.push(Field::new(*name, DataType::Int64, true));
        let values: Vec<i64> = rows.iter().map(|r| r[text.len() + n].int()).collect();
        columns.push(Arc::new(Int64Array::from(values)));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch");
    ecrgc_engine::register_batch(ctx, name, batch).expect("registers");
}

/// One cell of [`table`].
#[derive(Clone, Copy)]
enum Value {
    Text(Option<&'static str>),
    Int(i64),
}

impl Value {
    fn text(self) -> Option<&'static str> {
        match self {
            Value::Text(t) => t,
            Value::Int(_) => panic!("not text"),
        }
    }

    fn int(self) -> i64 {
        match self {
            Value::Int(i) => i,
            Value::Text(_) => panic!("not an integer"),
        }
    }
}

fn t(v: &'static str) -> Value {
    Value::Text(Some(v))
}

const NULL: Value = Value::Text(None);

/// A session with a small organization: `app` in eu-west-1 (team `web`) with an index
/// whose two children and the index itself are deleted, a deleted single image and a
/// kept one sharing a layer with it; `db` in us-east-1 (untagged) with one image
/// flagged in a repository that is not opted in and one protected. `layers` says which
/// images have their layers collected (`None`: no layer table at all).
async fn session(layers: Option<&[&str]>, earlier: Option<RecordBatch>) -> SessionContext {
    let ctx = SessionContext::new();
    let (eu, us) = (t("eu-west-1"), t("us-east-1"));
    let decision = |status, rule, reason, region, repo, digest, media, size| {
        vec![
            status,
            rule,
            reason,
            t(A),
            region,
            t(repo),
            t(digest),
            t(media),
            Value::Int(size),
        ]
    };
    let decisions = vec![
        decision(
            t("delete"),
            t("never_used"),
            NULL,
            eu,
            "app",
            "sha256:idx",
            INDEX,
            2 * GB,
        ),
        decision(
            t("delete"),
            NULL,
            NULL,
            eu,
            "app",
            "sha256:amd",
            IMAGE,
            2 * GB,
        ),
        decision(t("delete"), NULL, NULL, eu, "app", "sha256:arm", IMAGE, GB),
        decision(
            t("delete"),
            t("stale"),
            NULL,
            eu,
            "app",
            "sha256:old",
            IMAGE,
            4 * GB,
        ),
        decision(
            t("not_opted_in"),
            t("stale"),
            NULL,
            us,
            "db",
            "sha256:db1",
            IMAGE,
            3 * GB,
        ),
        decision(
            t("protected"),
            t("stale"),
            t("recent_pull"),
            us,
            "db",
            "sha256:db2",
            IMAGE,
            GB,
        ),
    ];
    table(
        &ctx,
        "decisions",
        &[
            "status",
            "rule",
            "reason",
            "account_id",
            "region",
            "repository_name",
            "image_digest",
            "image_manifest_media_type",
        ],
        &["image_size_bytes"],
        &decisions,
    );
    // Every image of the run: the decided ones, a kept image in `app`, and one archived.
    let mut images: Vec<Vec<Value>> = decisions
        .iter()
        .map(|d| vec![d[3], d[4], d[5], d[6], d[7], t("ACTIVE"), d[8]])
        .collect();
    images.push(vec![
        t(A),
        eu,
        t("app"),
        t("sha256:new"),
        t(IMAGE),
        t("ACTIVE"),
        Value::Int(5 * GB),
    ]);
    images.push(vec![
        t(A),
        us,
        t("db"),
        t("sha256:arc"),
        t(IMAGE),
        t("ARCHIVED"),
        Value::Int(10 * GB),
    ]);
    table(
        &ctx,
        "images",
        &[
            "account_id",
            "region",
            "repository_name",
            "image_digest",
            "image_manifest_media_type",
            "image_status",
        ],
        &["image_size_bytes"],
        &images,
    );
    table(
        &ctx,
        "repository_tags",
        &[
            "account_id",
            "region",
            "repository_name",
            "tag_key",
            "tag_value",
        ],
        &[],
        &[
            vec![t(A), eu, t("app"), t("team"), t("web")],
            vec![t(A), us, t("db"), t("cost-center"), t("cc-1")],
        ],
    );
    if let Some(with_layers) = layers {
        // `old` shares `base` with the kept `new`; its own `top` is freed; the two
        // children share `arch` with nothing outside the manifest. A foreign layer
        // (stored elsewhere) frees nothing.
        let layer = |digest, layer, size, kind| {
            vec![
                t(A),
                eu,
                t("app"),
                t(digest),
                t(layer),
                t(kind),
                Value::Int(size),
            ]
        };
        let rows: Vec<Vec<Value>> = [
            layer("sha256:amd", "sha256:l-amd", GB, "layer"),
            layer("sha256:amd", "sha256:arch", GB / 2, "layer"),
            layer("sha256:arm", "sha256:arch", GB / 2, "layer"),
            layer("sha256:old", "sha256:base", 3 * GB, "layer"),
            layer("sha256:old", "sha256:top", GB, "layer"),
            layer("sha256:new", "sha256:base", 3 * GB, "layer"),
            layer("sha256:new", "sha256:top2", 2 * GB, "layer"),
            layer("sha256:old", "sha256:win", 5 * GB, "foreign"),
        ]
        .into_iter()
        .filter(|r| with_layers.contains(&r[3].text().expect("digest")))
        .collect();
        table(
            &ctx,
            "image_layers",
            &[
                "account_id",
                "region",
                "repository_name",
                "image_digest",
                "layer_digest",
                "layer_kind",
            ],
            &["layer_size_bytes"],
            &rows,
        );
    }
    let earlier = earlier.unwrap_or_else(|| PlanTotalsBuilder::new("r0", 0, 0).finish());
    let table = MemTable::try_new(earlier.schema(), vec![vec![earlier]]).expect("table");
    ctx.register_table("earlier_plan_totals", Arc::new(table))
        .expect("registers");
    ctx
}

/// Every image with layers in [`session`].
const ALL_LAYERS: &[&str] = &["sha256:amd", "sha256:arm", "sha256:old", "sha256:new"];

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
    let ctx = session(None, None).await;
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
    let ctx = session(None, None).await;
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
    let ctx = session(Some(ALL_LAYERS), None).await;
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
    // `new` shares the repository with the manifest but has no layer rows.
    let ctx = session(Some(&["sha256:amd", "sha256:arm", "sha256:old"]), None).await;
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
    let ctx = session(None, Some(b.finish())).await;
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
    // The flat table as `report.csv` writes it.
    let mut csv = Vec::new();
    let mut writer = crate::csv::Writer::new(&mut csv);
    writer
        .write(&groups_batch(&computed.report).expect("flat table"))
        .expect("writes");
    drop(writer);
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
