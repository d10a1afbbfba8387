//! Integration tests of the engine as a whole: property tests that run the builtin catalog
//! over random organizations and check the safety invariants of the decision pipeline.
//!
//! * [`org`] holds an organization as facts and turns it into snapshot tables;
//! * [`generate`] generates random organizations;
//! * [`oracle`] evaluates the documented semantics in Rust, independently of the SQL;
//! * [`pipeline`] runs the real engine over an organization;
//! * [`properties`] holds the properties;
//! * [`rule_docs`] checks the rule and guard docs against their SQL and the README;
//! * [`decisions_schema`] checks the decision rows against the model.

mod decisions_schema;
mod generate;
mod oracle;
mod org;
mod pipeline;
mod properties;
mod rule_docs;
