//! `ecrgc query`: read-only SQL over every table and the history of committed runs.

use anyhow::Result;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use ecrgc_plan::Chosen;
use ecrgc_plan::output::{Sink, render_batches};

use crate::args::QueryArgs;
use crate::error::bad_input;
use crate::shared::{load_config, open_store, output_format, warn};

pub async fn query(args: QueryArgs) -> Result<()> {
    let sql = query_text(&args)?;
    let sink = Sink::open(args.out.as_deref(), output_format(args.format))?;
    let config = load_config(args.store.config.as_deref())?;
    let store = open_store(&args.store, &config).await?;
    let runs = store.committed_runs().await?;
    let latest = Chosen::pick_among(&store, runs.clone(), args.run.as_deref(), &config, &warn)?.run;
    let ctx =
        ecrgc_engine::new_context_with(&ecrgc_engine::EngineOptions::from_config(&config.engine))?;
    ecrgc_engine::register_query_tables(&ctx, &store, &runs, &latest).await?;
    let df = read_only_sql(&ctx, &sql).await?;
    let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    sink.write_all(&render_batches(
        output_format(args.format),
        schema,
        &batches,
    )?)?;
    Ok(())
}

/// Plans `sql` and refuses, before anything runs, every statement that creates, changes or
/// writes: DDL (`CREATE [EXTERNAL] TABLE`, `CREATE VIEW`, `DROP`), DML (`INSERT`, `COPY … TO`,
/// which would write with the store's credentials) and session statements (`SET`,
/// transactions, `PREPARE`). The check walks the whole plan, subqueries and the inside of
/// `EXPLAIN ANALYZE` included.
async fn read_only_sql(ctx: &SessionContext, sql: &str) -> Result<DataFrame> {
    let plan = ctx
        .state()
        .create_logical_plan(sql)
        .await
        .map_err(bad_input)?;
    ecrgc_engine::read_only().verify_plan(&plan).map_err(|e| {
        bad_input(format!(
            "`ecrgc query` only reads; the SQL would create, change or write something: {e}"
        ))
    })?;
    Ok(ctx.execute_logical_plan(plan).await?)
}

/// The SQL of `ecrgc query`: the argument, standard input (`-`) or `--file`.
fn query_text(args: &QueryArgs) -> Result<String> {
    let text = match (&args.sql, &args.file) {
        (_, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| bad_input(format!("cannot read --file {}: {e}", path.display())))?,
        (Some(sql), None) if sql == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| bad_input(format!("cannot read SQL from standard input: {e}")))?;
            text
        }
        (Some(sql), None) => sql.clone(),
        (None, None) => return Err(bad_input("give SQL, `-` for standard input, or --file")),
    };
    if text.trim().is_empty() {
        return Err(bad_input("the SQL is empty"));
    }
    Ok(text)
}
