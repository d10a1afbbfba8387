//! The live checks: what is read again from AWS before anything is changed, each source a
//! module. None of them changes anything; [`crate::deletion`] and [`crate::lifecycle`] act
//! on their verdicts.
//!
//! * [`references`]: every live workload reference in every configured account and region.
//! * [`replication`]: delete replication, and the order it imposes.
//! * `repository`: the repository exists, is opted in and not excluded, now.
//! * `inspector`: Inspector's usage of the repository's images, now.
//! * `image`: one image against what the plan saw.

pub(crate) mod image;
pub(crate) mod inspector;
pub mod references;
pub mod replication;
pub(crate) mod repository;
