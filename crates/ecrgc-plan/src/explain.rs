//! Why one image is kept or flagged: every rule and guard, the evidence, the references and
//! relations, in the session a plan of the same run would use.

use ecrgc_engine::{Catalog, Planner};

use crate::error::{PlanError, Result};
use crate::inputs::PlanInputs;
use crate::session::prepare_session;

/// The explanation of every image `image` names (a URI, or a bare digest explained in every
/// repository that holds it), one text each.
pub async fn explain(
    inputs: &PlanInputs<'_>,
    catalog: Catalog,
    image: &str,
) -> Result<Vec<String>> {
    let planner = Planner::new(catalog);
    let (ctx, _) = prepare_session(
        inputs.store,
        inputs.chosen,
        inputs.config,
        &planner,
        inputs.now,
    )
    .await?;
    let keys = ecrgc_report::explain::resolve(&ctx, image).await?;
    if let Some(why) = ecrgc_model::image_ref::parse_image_ref(image).parse_error {
        return Err(PlanError::bad_input(format!(
            "{image:?} names an ECR registry but is not a valid image reference: {why}"
        )));
    }
    if keys.is_empty() {
        return Err(PlanError::bad_input(format!(
            "no image {image:?} in run {} of {}",
            inputs.chosen.run.run_id,
            inputs.store.display()
        )));
    }
    ecrgc_report::explain::install_decisions(&ctx, &planner).await?;
    let mut texts = Vec::with_capacity(keys.len());
    for key in &keys {
        texts.push(ecrgc_report::explain::explain(&ctx, &planner, key).await?);
    }
    Ok(texts)
}
