//! `sql/plan/decisions.sql` returns exactly the columns the model documents
//! (`ecrgc_model::decisions`), with their types, in order: every reader of the decision rows
//! (manifest, reports, explain, the DuckDB differential) relies on those names.

use ecrgc_engine::{Catalog, Planner};

#[tokio::test]
async fn decisions_return_the_columns_of_the_model() {
    let ctx = ecrgc_engine::new_context();
    ecrgc_engine::register_empty_tables(&ctx).expect("empty tables register");
    let planner = Planner::new(Catalog::builtin());
    planner
        .install(&ctx, false)
        .await
        .expect("catalog installs");
    let decisions = planner.decisions(&ctx).await.expect("decisions plan");
    let actual: Vec<(String, String)> = decisions
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect();
    let documented: Vec<(String, String)> = ecrgc_model::decisions::columns()
        .iter()
        .map(|c| (c.name.to_owned(), c.data_type.to_string()))
        .collect();
    assert_eq!(
        actual, documented,
        "decisions.sql and ecrgc_model::decisions disagree"
    );
}
