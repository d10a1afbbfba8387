//! `[rules]` and `[lifecycle]`: the thresholds the rules read and the margins of
//! `lifecycle suggest`.

use serde::{Deserialize, Serialize};

/// `[rules]`: thresholds the rules read through the `params` table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// An image unused for this many days is a candidate, 1 to 3650
    /// ([`crate::UNUSED_DAYS_RANGE`]).
    #[serde(default = "default_unused_days")]
    pub unused_days: u32,
    /// Task definitions deregistered less than this many hours ago still protect their
    /// images, 0 to 8760.
    #[serde(default = "default_rollback_window_hours")]
    pub rollback_window_hours: u32,
    /// Newest N images per repository are always kept, 0 to 10000.
    #[serde(default)]
    pub keep_newest: u32,
    /// Images pushed less than this many days ago are never candidates, 0 to 3650.
    #[serde(default = "default_min_age_days")]
    pub min_age_days: u32,
    /// An ECR pull within this many days keeps an image (and the `not_pulled` rule flags
    /// images without one), 1 to 3650.
    #[serde(default = "default_unused_days")]
    pub recent_pull_days: u32,
    /// An image is unused only if it was unused in every committed run of this many days,
    /// 0 to 3650.
    #[serde(default = "default_history_days")]
    pub history_days: u32,
    /// Rules that are off by default to switch on, e.g. `["not_pulled"]`.
    #[serde(default)]
    pub enable: Vec<String>,
    /// Rules to switch off. Guards cannot be switched off.
    #[serde(default)]
    pub disable: Vec<String>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            unused_days: default_unused_days(),
            rollback_window_hours: default_rollback_window_hours(),
            keep_newest: 0,
            min_age_days: default_min_age_days(),
            recent_pull_days: default_unused_days(),
            history_days: default_history_days(),
            enable: Vec::new(),
            disable: Vec::new(),
        }
    }
}

fn default_unused_days() -> u32 {
    90
}
fn default_rollback_window_hours() -> u32 {
    24
}
fn default_min_age_days() -> u32 {
    14
}
fn default_history_days() -> u32 {
    14
}

/// `[lifecycle]`: how far `lifecycle suggest` stays from the observed usage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LifecycleConfig {
    /// Days added to the age of the oldest kept (or last used) untagged image, 0 to 3650.
    #[serde(default = "default_untagged_margin_days")]
    pub untagged_margin_days: u32,
    /// Images added to the rank of the oldest kept image of a tag prefix, 0 to 10000.
    #[serde(default = "default_count_margin")]
    pub count_margin: u32,
    /// A tag prefix (`ci-`, `pr-`…) needs at least this many images to get a rule, 2 to
    /// 10000.
    #[serde(default = "default_min_prefix_images")]
    pub min_prefix_images: u32,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            untagged_margin_days: default_untagged_margin_days(),
            count_margin: default_count_margin(),
            min_prefix_images: default_min_prefix_images(),
        }
    }
}

impl LifecycleConfig {
    pub(crate) fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn default_untagged_margin_days() -> u32 {
    7
}
fn default_count_margin() -> u32 {
    3
}
fn default_min_prefix_images() -> u32 {
    10
}
