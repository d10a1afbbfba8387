//! The SQL test suite: every `.slt` file under `fixtures/slt/` runs in its own fresh session
//! with every snapshot table empty and writable, `params` empty (files insert their own
//! row, usually through `include ../setup/params_default.slt`), and the whole catalog
//! installed as views: `image_refs`, `rule_<id>`, `guard_<id>`, `candidates`,
//! `protections`, and the decision step as the view `decisions`.
//!
//! Run: `cargo test -p ecrgc-engine --test sqllogictest`; regenerate expected results with
//! `cargo test -p ecrgc-engine --test sqllogictest -- --complete` (then review the diff).
//! A file name filter may follow: `-- --complete never_used`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::context::SessionContext;
use ecrgc_engine::{Catalog, Planner, SqlKind};
use sqllogictest::{DBOutput, DefaultColumnType, Runner};

struct Session {
    ctx: SessionContext,
}

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

async fn new_session() -> Result<Session, SltError> {
    let ctx = ecrgc_engine::new_context();
    ecrgc_engine::register_empty_tables(&ctx).map_err(|e| SltError(e.to_string()))?;
    let planner = Planner::new(Catalog::builtin());
    planner
        .install(&ctx, false)
        .await
        .map_err(|e| SltError(e.to_string()))?;
    let decisions = planner
        .decisions(&ctx)
        .await
        .map_err(|e| SltError(e.to_string()))?;
    ctx.register_table("decisions", decisions.into_view())
        .map_err(|e| SltError(e.to_string()))?;
    // Steps that read the decision rows (`replicas_kept`), as views under their ids.
    for unit in planner
        .catalog()
        .of(SqlKind::Plan)
        .filter(|u| ecrgc_engine::AFTER_DECISIONS.contains(&u.id.as_str()))
    {
        let df = ctx
            .sql(unit.query())
            .await
            .map_err(|e| SltError(format!("{}: {e}", unit.path)))?;
        ctx.register_table(unit.id.as_str(), df.into_view())
            .map_err(|e| SltError(e.to_string()))?;
    }
    // The queries of the reports and `ecrgc explain`, as views `report_<id>` and
    // `explain_<id>` over the tables `register_empty_tables` adds (`report_params`,
    // `target`, `earlier_plan_totals`, `current_plan_totals`) and the view `findings`.
    planner
        .register_findings(&ctx)
        .await
        .map_err(|e| SltError(e.to_string()))?;
    for unit in ecrgc_engine::queries() {
        let df = ctx
            .sql(unit.query())
            .await
            .map_err(|e| SltError(format!("{}: {e}", unit.path)))?;
        ctx.register_table(
            format!("{}_{}", unit.kind.folder(), unit.id),
            df.into_view(),
        )
        .map_err(|e| SltError(e.to_string()))?;
    }
    Ok(Session { ctx })
}

fn column_type(dt: &DataType) -> DefaultColumnType {
    match dt {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => DefaultColumnType::Integer,
        DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) => {
            DefaultColumnType::FloatingPoint
        }
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => DefaultColumnType::Text,
        _ => DefaultColumnType::Any,
    }
}

fn cell(array: &Arc<dyn Array>, row: usize, formatter: &ArrayFormatter<'_>) -> String {
    if array.is_null(row) {
        return "NULL".into();
    }
    let s = formatter.value(row).to_string();
    if s.is_empty() { "(empty)".into() } else { s }
}

fn to_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, SltError> {
    let options = FormatOptions::default();
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SltError(e.to_string()))?;
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| cell(c, row, f))
                    .collect(),
            );
        }
    }
    Ok(rows)
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for Session {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let df = self
            .ctx
            .sql(sql)
            .await
            .map_err(|e| SltError(e.to_string()))?;
        let types: Vec<DefaultColumnType> = df
            .schema()
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let is_statement = {
            let head = sql.trim_start().to_ascii_uppercase();
            ["INSERT", "CREATE", "DROP", "SET"]
                .iter()
                .any(|k| head.starts_with(k))
        };
        let batches = df.collect().await.map_err(|e| SltError(e.to_string()))?;
        if is_statement {
            return Ok(DBOutput::StatementComplete(0));
        }
        Ok(DBOutput::Rows {
            types,
            rows: to_rows(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "datafusion"
    }
}

fn slt_root() -> PathBuf {
    // The running test's folder, not the one compiled in (the build cache is shared between
    // clones).
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let root = dir.join("../../fixtures/slt");
    std::fs::canonicalize(&root).unwrap_or(root)
}

fn slt_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                // setup/ holds included fragments, not tests of their own.
                if path.file_name().is_some_and(|n| n != "setup") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "slt") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every SQL file has its own test: `fixtures/slt/<folder>/<id>.slt`.
fn missing_files(root: &Path) -> Vec<String> {
    let catalog = Catalog::builtin();
    let mut units: Vec<_> = catalog.units().to_vec();
    units.extend(ecrgc_engine::queries());
    units
        .iter()
        .map(|unit| {
            root.join(unit.kind.folder())
                .join(format!("{}.slt", unit.id))
        })
        .filter(|path| !path.exists())
        .map(|path| path.display().to_string())
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let complete = args.iter().any(|a| a == "--complete");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let root = slt_root();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime starts");
    let mut failures = Vec::new();
    let mut passed = 0usize;
    for path in slt_files(&root) {
        let name = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let result = runtime.block_on(async {
            let mut runner = Runner::new(|| async { new_session().await });
            runner.add_label("datafusion");
            runner.with_column_validator(sqllogictest::strict_column_validator);
            if complete {
                runner
                    .update_test_file(
                        &path,
                        " ",
                        sqllogictest::default_validator,
                        sqllogictest::default_normalizer,
                        sqllogictest::strict_column_validator,
                    )
                    .await
                    .map_err(|e| e.to_string())
            } else {
                runner
                    .run_file_async(&path)
                    .await
                    .map_err(|e| e.to_string())
            }
        });
        match result {
            Ok(()) => {
                passed += 1;
                println!("ok   {name}");
            }
            Err(e) => {
                println!("FAIL {name}\n{e}");
                failures.push(name);
            }
        }
    }
    if filters.is_empty() {
        for missing in missing_files(&root) {
            println!("FAIL missing test file {missing}");
            failures.push(missing);
        }
    }
    println!("\nsqllogictest: {passed} passed, {} failed", failures.len());
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
