//! Inspector2 coverage of the ECR images of one account and region (ListCoverage,
//! AWS_ECR_CONTAINER_IMAGE): `lastInUseAt`, `inUseCount`, `imagePulledAt` and the scan
//! status with its reason; and the account's rescan settings (GetConfiguration,
//! `ecrConfiguration.rescanDurationState`), read as the side unit `inspector_configuration`.
//!
//! Coverage, not findings: an image with no findings has no finding, but it has coverage.
//! A failure here makes the registry's images of unknown use for this run (the
//! `usage_coverage_gap` guard), so a partial read is recorded as a failure, not as `ok`.
//!
//! What the rows mean, from AWS's documentation:
//! - `lastInUseAt` is "the last time an Amazon ECR image was used in an Amazon ECS task or
//!   Amazon EKS pod", `inUseCount` "the number of Amazon ECS tasks or Amazon EKS pods where
//!   the Amazon ECR container image is in use" (Inspector API Reference,
//!   `EcrContainerImageMetadata`).
//! - Inspector monitors an image while it was pushed within the push rescan duration or last
//!   used (or, in `LAST_PULL_DATE` mode, pulled) within the pull-date rescan duration; then
//!   it "stops monitoring it", sets the scan status code to inactive and the reason to
//!   expired, and the row stays (Inspector User Guide, "Configuring the Amazon ECR re-scan
//!   duration"; API Reference `ScanStatus`: `SCAN_ELIGIBILITY_EXPIRED` — "The configured
//!   scan duration has lapsed for this image").
//!
//! AWS documents nothing about the usage fields of an image Inspector no longer monitors,
//! so the rules read them as evidence of non-use only from `ACTIVE` rows (`stale`,
//! `never_used`); as evidence of use they count from every row (`recent_use`).
//!
//! The rescan settings are informative: the report shows them next to each account's
//! active, inactive and missing coverage. A failure to read them is recorded as its own
//! coverage row and never blocks anything, since no rule reads them.

use aws_sdk_inspector2::Client;
use aws_sdk_inspector2::types::{
    CoverageFilterCriteria, CoverageStringComparison, CoverageStringFilter,
};
use ecrgc_aws::Failure;
use ecrgc_aws::pages::TokenGuard;
use ecrgc_model::{InspectorConfigurationRow, InspectorCoverageRow};

use super::unit::{SideUnit, Unit, UnitError, micros};

/// The largest page ListCoverage serves.
const PAGE: i32 = 200;

/// Collects the unit's coverage, then its rescan settings as the `inspector_configuration`
/// side unit.
pub(crate) async fn collect(unit: &mut Unit, inspector: &Client) -> Result<(), UnitError> {
    coverage(unit, inspector).await?;
    let mut side = SideUnit::new(unit, "inspector_configuration");
    let failure = configuration(unit, &mut side, inspector).await.err();
    unit.extra.push(side.outcome(failure.as_ref()));
    Ok(())
}

/// GetConfiguration for the unit's own account (no `accountId`: a member account reads the
/// setting its delegated administrator applied to it).
async fn configuration(
    unit: &mut Unit,
    side: &mut SideUnit,
    inspector: &Client,
) -> Result<(), Failure> {
    let answer = side
        .api
        .call("inspector2:GetConfiguration", || {
            inspector.get_configuration().send()
        })
        .await?;
    let state = answer
        .ecr_configuration()
        .and_then(|c| c.rescan_duration_state());
    unit.tables
        .inspector_configuration
        .append(InspectorConfigurationRow {
            account_id: &unit.api.account,
            region: &unit.api.region,
            rescan_duration: state.and_then(|s| s.rescan_duration()).map(|d| d.as_str()),
            pull_date_rescan_duration: state
                .and_then(|s| s.pull_date_rescan_duration())
                .map(|d| d.as_str()),
            pull_date_rescan_mode: state
                .and_then(|s| s.pull_date_rescan_mode())
                .map(|m| m.as_str()),
            status: state.and_then(|s| s.status()).map(|s| s.as_str()),
            updated_at: state.and_then(|s| s.updated_at()).map(micros),
        });
    side.items += 1;
    Ok(())
}

/// ListCoverage of the unit's account, every page.
async fn coverage(unit: &mut Unit, inspector: &Client) -> Result<(), UnitError> {
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
    let mut guard = TokenGuard::new("inspector2:ListCoverage");
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
            // `scanStatus` is optional in the model; without it nothing says Inspector
            // monitors the image, so the row cannot vouch for non-use.
            let scan_status = r
                .scan_status()
                .map(|s| s.status_code().as_str())
                .unwrap_or("UNKNOWN");
            let scan_status_reason = r.scan_status().map(|s| s.reason().as_str());
            unit.tables.coverage.append(InspectorCoverageRow {
                account_id: r.account_id(),
                region: &unit.api.region,
                repository_name,
                image_digest: digest,
                last_in_use_at: image.and_then(|i| i.last_in_use_at()).map(micros),
                in_use_count: image.and_then(|i| i.in_use_count()),
                image_pulled_at: image.and_then(|i| i.image_pulled_at()).map(micros),
                scan_status,
                scan_status_reason,
            });
            unit.items += 1;
        }
        unit.maybe_flush().await?;
        token = guard.next(page.next_token())?;
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
