//! Running the real pipeline over a generated organization: a fresh DataFusion session with
//! the organization's tables, the default `params`, the builtin catalog installed, and the
//! decision rows read back into Rust.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use ecrgc_engine::session::{self, HISTORY_PREFIX};
use ecrgc_engine::{Catalog, Planner};

use crate::org::{Org, params};

/// The image key: account, region, repository, digest.
pub type Key = (String, String, String, String);

/// One decision row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `delete`, `not_opted_in`, `protected` or `kept_with_parent`.
    pub status: String,
    /// First rule, or `with_parent`.
    pub rule: Option<String>,
    /// Every rule.
    pub rules: Option<String>,
    /// First guard, or `parent_kept`.
    pub reason: Option<String>,
    /// Every guard.
    pub guards: Option<String>,
    /// Parent digests.
    pub parent_digests: Option<String>,
    /// Depth below the roots.
    pub depth: i64,
}

/// Every decision row, by image, plus every row fully formatted in output order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Decisions by image.
    pub by_key: BTreeMap<Key, Decision>,
    /// Every column of every row, formatted, in the order the plan returned them.
    pub rows: Vec<Vec<String>>,
}

impl Plan {
    /// Images with status `delete`.
    pub fn deleted(&self) -> Vec<&Key> {
        self.with_status("delete")
    }

    /// Images with one status.
    pub fn with_status(&self, status: &str) -> Vec<&Key> {
        self.by_key
            .iter()
            .filter(|(_, d)| d.status == status)
            .map(|(k, _)| k)
            .collect()
    }

    /// The status of an image, `None` when it is not listed.
    pub fn status(&self, key: &Key) -> Option<&str> {
        self.by_key.get(key).map(|d| d.status.as_str())
    }
}

/// The key of an image of the organization.
pub fn key(org: &Org, image: usize) -> Key {
    let i = &org.images[image];
    let r = &org.repos[i.repo];
    (
        r.account.to_owned(),
        r.region.to_owned(),
        r.name.to_owned(),
        i.digest.clone(),
    )
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("decisions have a column {name}"));
    let column = cast(column, &DataType::Utf8).expect("the column casts to Utf8");
    let column = column.as_string::<i32>();
    (0..column.len())
        .map(|i| column.is_valid(i).then(|| column.value(i).to_owned()))
        .collect()
}

/// Plans the organization with the builtin catalog and the default thresholds.
pub fn plan(org: &Org) -> Plan {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    runtime.block_on(async {
        let ctx = ecrgc_engine::new_context();
        ecrgc_engine::register_empty_tables(&ctx).expect("empty tables register");
        // The history window of a plan includes the planned run itself.
        for (name, batch) in org.tables() {
            for name in [name.to_owned(), format!("{HISTORY_PREFIX}{name}")] {
                let _ = ctx.deregister_table(&name).expect("table deregisters");
                let table = MemTable::try_new(batch.schema(), vec![vec![batch.clone()]])
                    .expect("batch matches its schema");
                ctx.register_table(name, Arc::new(table))
                    .expect("table registers");
            }
        }
        session::register_params(&ctx, &params()).expect("params register");
        let planner = Planner::new(Catalog::builtin());
        planner.install(&ctx, true).await.expect("catalog installs");
        let batches = planner
            .decisions(&ctx)
            .await
            .expect("decisions plan")
            .collect()
            .await
            .expect("decisions run");
        let mut by_key = BTreeMap::new();
        let mut rows = Vec::new();
        let options = FormatOptions::default().with_null("NULL");
        for batch in &batches {
            let text = |n: &str| strings(batch, n);
            let (account, region, repo, digest) = (
                text("account_id"),
                text("region"),
                text("repository_name"),
                text("image_digest"),
            );
            let (status, rule, rules, reason, guards, parents) = (
                text("status"),
                text("rule"),
                text("rules"),
                text("reason"),
                text("guards"),
                text("parent_digests"),
            );
            let depth = cast(
                batch.column_by_name("depth").expect("a depth column"),
                &DataType::Int64,
            )
            .expect("depth casts to Int64");
            let depth = depth.as_primitive::<Int64Type>();
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()
                .expect("columns format");
            for i in 0..batch.num_rows() {
                rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
                let key = (
                    account[i].clone().expect("account_id"),
                    region[i].clone().expect("region"),
                    repo[i].clone().expect("repository_name"),
                    digest[i].clone().expect("image_digest"),
                );
                let decision = Decision {
                    status: status[i].clone().expect("status is never null"),
                    rule: rule[i].clone(),
                    rules: rules[i].clone(),
                    reason: reason[i].clone(),
                    guards: guards[i].clone(),
                    parent_digests: parents[i].clone(),
                    depth: depth.value(i),
                };
                let previous = by_key.insert(key.clone(), decision);
                assert!(previous.is_none(), "two decision rows for {key:?}");
            }
        }
        Plan { by_key, rows }
    })
}
