//! Inspector2 coverage of the ECR images of one account and region (ListCoverage,
//! AWS_ECR_CONTAINER_IMAGE): `lastInUseAt`, `inUseCount`, `imagePulledAt`, scan status.
//!
//! Coverage, not findings: an image with no findings has no finding, but it has coverage.
//! A failure here makes the registry's images of unknown use for this run (the
//! `usage_coverage_gap` guard), so a partial read is recorded as a failure, not as `ok`.

use aws_sdk_inspector2::Client;
use aws_sdk_inspector2::types::{
    CoverageFilterCriteria, CoverageStringComparison, CoverageStringFilter,
};
use ecrgc_aws::Failure;
use ecrgc_model::InspectorCoverageRow;

use super::unit::{Unit, UnitError, micros};

/// The largest page ListCoverage serves.
const PAGE: i32 = 200;

/// Collects the unit's coverage.
pub(crate) async fn collect(unit: &mut Unit, inspector: &Client) -> Result<(), UnitError> {
    let filter = CoverageStringFilter::builder()
        .comparison(CoverageStringComparison::Equals)
        .value("AWS_ECR_CONTAINER_IMAGE")
        .build()
        .map_err(|e| Failure::other(e.to_string()))?;
    let account_filter = CoverageStringFilter::builder()
        .comparison(CoverageStringComparison::Equals)
        .value(unit.api.account.clone())
        .build()
        .map_err(|e| Failure::other(e.to_string()))?;
    // The account filter matters for a delegated administrator, which sees its members too:
    // each registry account's unit reads exactly its own images.
    let criteria = CoverageFilterCriteria::builder()
        .resource_type(filter)
        .account_id(account_filter)
        .build();
    let mut token: Option<String> = None;
    loop {
        let page = unit
            .api
            .call("inspector2:ListCoverage", || {
                inspector
                    .list_coverage()
                    .filter_criteria(criteria.clone())
                    .max_results(PAGE)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        for r in page.covered_resources() {
            let Some((arn_repo, digest)) = split_image_resource_id(r.resource_id()) else {
                continue;
            };
            let meta = r.resource_metadata();
            let repository_name = meta
                .and_then(|m| m.ecr_repository())
                .and_then(|e| e.name())
                .unwrap_or(arn_repo);
            let image = meta.and_then(|m| m.ecr_image());
            let scan_status = r
                .scan_status()
                .map(|s| s.status_code().as_str())
                .unwrap_or("UNKNOWN");
            unit.tables.coverage.append(InspectorCoverageRow {
                account_id: r.account_id(),
                region: &unit.api.region,
                repository_name,
                image_digest: digest,
                last_in_use_at: image.and_then(|i| i.last_in_use_at()).map(micros),
                in_use_count: image.and_then(|i| i.in_use_count()),
                image_pulled_at: image.and_then(|i| i.image_pulled_at()).map(micros),
                scan_status,
            });
            unit.items += 1;
        }
        unit.maybe_flush().await?;
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(());
        }
    }
}

/// `arn:aws:ecr:REGION:ACCOUNT:repository/REPO/sha256:HEX` → (`REPO`, `sha256:HEX`).
pub(crate) fn split_image_resource_id(id: &str) -> Option<(&str, &str)> {
    let path = id.split_once(":repository/")?.1;
    let at = path.rfind("/sha256:")?;
    Some((&path[..at], &path[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_resource_ids_split_into_repository_and_digest() {
        assert_eq!(
            split_image_resource_id(
                "arn:aws:ecr:eu-west-1:111111111111:repository/payments/api/sha256:abc"
            ),
            Some(("payments/api", "sha256:abc"))
        );
        assert_eq!(
            split_image_resource_id("arn:aws:ecr:eu-west-1:1:repository/x"),
            None
        );
        assert_eq!(split_image_resource_id("i-0123"), None);
    }
}
