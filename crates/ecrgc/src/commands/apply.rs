//! `ecrgc approve` and `ecrgc apply`: the executor's commands, as `ecrgc-exec` ships them.

use anyhow::Result;

pub async fn approve(args: ecrgc_exec::approve::ApproveArgs) -> Result<()> {
    ecrgc_exec::approve::run(args).await?;
    Ok(())
}

pub async fn apply(args: ecrgc_exec::ApplyArgs) -> Result<()> {
    // Failed items exit 1, blocked ones 3: decided by the executor, as for `ecrgc-exec`.
    let summary = ecrgc_exec::run(args).await?;
    Ok(ecrgc_exec::status::outcome(&summary)?)
}
