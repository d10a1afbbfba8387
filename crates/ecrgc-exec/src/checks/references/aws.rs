//! The reader of the live references through the AWS APIs: ECS and Lambda in each account
//! × region, with the account's session.

use std::collections::HashMap;

use ecrgc_aws::{AccountSession, CallStats, Caller, Failure};
use ecrgc_model::time::Micros;

use crate::checks::references::cache::Reader;
use crate::checks::references::call::Cx;
use crate::checks::references::ecs::EcsReader;
use crate::checks::references::found::Found;
use crate::checks::references::lambda;
use crate::checks::references::workloads::{self, WorkloadSources};

/// Reads ECS and Lambda through the shared call gates.
pub struct AwsReader {
    /// The shared call gates.
    pub caller: Caller,
    /// A session per account (or why there is none).
    pub sessions: HashMap<String, Result<AccountSession, Failure>>,
    /// ECS, when read.
    ecs: Option<EcsReader>,
    /// Whether to read Lambda.
    pub lambda: bool,
    /// The other workload sources to read.
    pub workloads: WorkloadSources,
    /// Describe calls in flight per reading.
    pub fan_out: usize,
}

impl AwsReader {
    /// A reader of these sessions.
    pub fn new(
        caller: Caller,
        sessions: HashMap<String, Result<AccountSession, Failure>>,
        (ecs, lambda, workloads): (bool, bool, WorkloadSources),
        recent_since: Micros,
        fan_out: usize,
    ) -> Self {
        Self {
            caller,
            sessions,
            ecs: ecs.then(|| EcsReader::new(recent_since)),
            lambda,
            workloads,
            fan_out: fan_out.max(1),
        }
    }
}

impl Reader for AwsReader {
    async fn read(&self, account: &str, region: &str) -> Found {
        let mut found = Found::default();
        if WorkloadSources::is_once(account) {
            workloads::read_once(&self.caller, account, &self.workloads, &mut found).await;
            return found;
        }
        let session = match self.sessions.get(account) {
            Some(Ok(s)) => s,
            Some(Err(f)) => {
                found.failures.push(format!("{account}: {f}"));
                return found;
            }
            None => {
                found
                    .failures
                    .push(format!("{account}: no session for the account"));
                return found;
            }
        };
        let stats = CallStats::default();
        let cx = Cx {
            caller: &self.caller,
            account,
            region,
            stats: &stats,
            fan_out: self.fan_out,
        };
        if let Some(ecs) = &self.ecs
            && let Err(f) = ecs.read(&cx, &session.ecs(region), &mut found).await
        {
            found.failures.push(format!("{account}/{region} ecs: {f}"));
        }
        if self.lambda
            && let Err(f) = lambda::read(&cx, &session.lambda(region), &mut found).await
        {
            found
                .failures
                .push(format!("{account}/{region} lambda: {f}"));
        }
        workloads::read_account(
            &self.caller,
            session,
            (account, region),
            &self.workloads,
            self.fan_out,
            &mut found,
        )
        .await;
        found
    }
}
