//! AWS SDK timestamps in the model's microseconds.

use ecrgc_model::time::Micros;

/// An SDK timestamp as microseconds since the epoch.
pub(crate) fn micros(t: &aws_smithy_types::DateTime) -> Micros {
    t.secs() * 1_000_000 + i64::from(t.subsec_nanos() / 1_000)
}
