//! The configuration file as a whole: [`Config`], its errors, reading it, and what is
//! derived from it (the hash plans record, the settings a plan is bound to, the tags).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::pacing::{ApplyConfig, CollectConfig};
use crate::pricing::{PricingConfig, ReportConfig};
use crate::rules::{LifecycleConfig, RulesConfig};
use crate::safety::{SafetyConfig, TagSelector};
use crate::scope::{OrgConfig, SourcesConfig};

/// Default local store when neither the command line nor the config names one.
pub const DEFAULT_STORE: &str = "./ecrgc-data";

/// Errors reading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said, with line, key and value.
        message: String,
    },
    /// A key has a value outside what ecrgc accepts.
    #[error("invalid config file {path}: `{key}` = {value:?}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted key, e.g. `rules.unused_days`.
        key: String,
        /// The value as written.
        value: String,
        /// Why it is refused.
        reason: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Store URL or local path.
    pub store: Option<String>,
    /// Which accounts and regions are in scope.
    #[serde(default)]
    pub org: OrgConfig,
    /// Which sources are collected.
    #[serde(default)]
    pub sources: SourcesConfig,
    /// Detection thresholds.
    #[serde(default)]
    pub rules: RulesConfig,
    /// Safety settings.
    #[serde(default)]
    pub safety: SafetyConfig,
    /// How hard `collect` may push the AWS APIs.
    #[serde(default)]
    pub collect: CollectConfig,
    /// How `apply` reaches and paces the AWS APIs.
    #[serde(default)]
    pub apply: ApplyConfig,
    /// Storage prices the savings are computed with.
    #[serde(default)]
    pub pricing: PricingConfig,
    /// What the FinOps report groups by and how far back its trend looks.
    #[serde(default)]
    pub report: ReportConfig,
    /// Margins of `lifecycle suggest`. Left out of the hash while at its defaults, so that
    /// configurations written before it existed keep their hash.
    #[serde(default, skip_serializing_if = "LifecycleConfig::is_default")]
    pub lifecycle: LifecycleConfig,
    /// The query engine's memory limit and spill folder. Left out of the hash while at its
    /// defaults.
    #[serde(default, skip_serializing_if = "crate::EngineConfig::is_default")]
    pub engine: crate::EngineConfig,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates config text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.validate(path)?;
        Ok(config)
    }
    /// The exclude tag as a selector.
    pub fn exclude_tag(&self) -> TagSelector {
        TagSelector::parse(&self.safety.exclude_tag).unwrap_or(TagSelector {
            key: "unusd".into(),
            value: Some("true".into()),
        })
    }

    /// The opt-in tag, or `None` when every repository may enter a manifest.
    pub fn opt_in_tag(&self) -> Option<TagSelector> {
        TagSelector::parse(&self.safety.opt_in_tag)
    }

    /// The store to use: the command line's, else the file's, else [`DEFAULT_STORE`].
    pub fn store_location(&self, flag: Option<&str>) -> String {
        flag.or(self.store.as_deref())
            .unwrap_or(DEFAULT_STORE)
            .to_owned()
    }

    /// The role `apply` assumes.
    pub fn apply_role(&self) -> &str {
        self.apply
            .role_name
            .as_deref()
            .unwrap_or(&self.org.role_name)
    }

    /// The settings a plan is bound to, by `section.key`: every setting that changes which
    /// images are read, flagged or kept, or what apply re-checks live (`org`, `sources`,
    /// `rules`, `lifecycle`, and the exclude and opt-in tags). Prices, report layout,
    /// parallelism and retries, the manifest lifetime and the approval policy (read when
    /// applying) are left out: they change no decision about an image.
    pub fn bound_settings(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        let mut out = std::collections::BTreeMap::new();
        let sections = [
            ("org", serde_json::to_value(&self.org)),
            ("sources", serde_json::to_value(&self.sources)),
            ("rules", serde_json::to_value(&self.rules)),
            ("lifecycle", serde_json::to_value(&self.lifecycle)),
        ];
        for (section, value) in sections {
            if let Ok(serde_json::Value::Object(map)) = value {
                for (key, v) in map {
                    out.insert(format!("{section}.{key}"), v);
                }
            }
        }
        out.insert(
            "safety.exclude_tag".into(),
            serde_json::Value::String(self.safety.exclude_tag.clone()),
        );
        out.insert(
            "safety.opt_in_tag".into(),
            serde_json::Value::String(self.safety.opt_in_tag.clone()),
        );
        out
    }

    /// SHA-256 of the effective configuration, recorded in runs and manifests.
    pub fn hash(&self) -> String {
        let canonical = serde_json::to_string(self).unwrap_or_default();
        let digest = Sha256::digest(canonical.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("ecrgc.toml"))
    }
    #[test]
    fn empty_file_gives_documented_defaults() {
        let c = parse("").expect("empty config is valid");
        assert_eq!(c.rules.unused_days, 90);
        assert_eq!(c.rules.rollback_window_hours, 24);
        assert_eq!(c.safety.exclude_tag, "unusd=true");
        assert_eq!(
            c.opt_in_tag(),
            Some(TagSelector {
                key: "ecrgc:auto-delete".into(),
                value: Some("true".into())
            })
        );
        assert_eq!(c.safety.manifest_ttl_hours, 72);
    }

    #[test]
    fn the_design_example_parses() {
        let c = parse(
            r#"
store = "s3://bucket/prefix"
[org]
accounts = ["111111111111", "222222222222"]
role_name = "ecrgc-collector"
regions = ["eu-west-1", "us-east-1"]
registry_accounts = ["111111111111"]
[sources]
inspector = true
ecs = true
lambda = true
config_aggregator = { account = "111111111111", region = "eu-west-1", name = "org" }
[rules]
unused_days = 90
rollback_window_hours = 24
keep_newest = 0
[safety]
exclude_tag = "unusd=true"
opt_in_tag = "ecrgc:auto-delete=true"
manifest_ttl_hours = 72
"#,
        )
        .expect("design example is valid");
        assert_eq!(c.org.accounts.len(), 2);
        assert_eq!(
            c.sources.config_aggregator.map(|a| a.name),
            Some("org".into())
        );
    }

    #[test]
    fn errors_name_file_key_and_value() {
        let e = parse("[org]\naccounts = [\"12345\"]\n").expect_err("short account id");
        let msg = e.to_string();
        assert!(
            msg.contains("ecrgc.toml") && msg.contains("org.accounts") && msg.contains("12345"),
            "{msg}"
        );

        let e = parse("[rules]\nunused_dayz = 3\n").expect_err("unknown key");
        let msg = e.to_string();
        assert!(
            msg.contains("ecrgc.toml") && msg.contains("unused_dayz"),
            "{msg}"
        );

        let e = parse("[rules]\nunused_days = \"ninety\"\n").expect_err("wrong type");
        assert!(e.to_string().contains("ninety"), "{e}");
    }

    #[test]
    fn layers_are_off_unless_asked_for() {
        assert!(!parse("").expect("valid").sources.layers);
        let c = parse("[sources]\nlayers = true\n").expect("valid");
        assert!(c.sources.layers);
        assert_ne!(c.hash(), parse("").expect("valid").hash());
        assert_eq!(
            parse("[sources]\nlayers = false\n").expect("valid").hash(),
            parse("").expect("valid").hash(),
            "an explicit default keeps the hash"
        );
    }

    #[test]
    fn bound_settings_hold_what_decides_and_nothing_else() {
        let a = parse("").expect("valid");
        let bound = a.bound_settings();
        for key in [
            "org.accounts",
            "org.regions",
            "sources.inspector",
            "rules.unused_days",
            "rules.history_days",
            "lifecycle.count_margin",
            "safety.exclude_tag",
            "safety.opt_in_tag",
        ] {
            assert!(bound.contains_key(key), "{key} missing from {bound:?}");
        }
        assert!(!bound.keys().any(|k| k.starts_with("pricing.")
            || k.starts_with("report.")
            || k.starts_with("apply.")
            || k.starts_with("collect.")));
        let b = parse("[rules]\nunused_days = 30\n[pricing]\nstorage_gb_month = 0.2\n[apply]\nbatch_size = 10\n[safety]\napprovals_required = 2\n")
            .expect("valid");
        let changed: Vec<&String> = bound
            .iter()
            .filter(|(k, v)| b.bound_settings().get(*k) != Some(*v))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(changed, vec!["rules.unused_days"]);
        assert_eq!(b.safety.approvals_required, 2);
        assert!(b.safety.approver_must_differ);
    }

    #[test]
    fn hash_changes_with_settings() {
        let a = parse("").expect("valid");
        let b = parse("[rules]\nunused_days = 30\n").expect("valid");
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash(), parse("").expect("valid").hash());
    }

    #[test]
    fn a_tag_key_alone_in_the_file_selects_any_value() {
        let c = parse("[safety]\nexclude_tag = \"keep\"\nopt_in_tag = \"owner\"\n").expect("valid");
        assert_eq!(c.exclude_tag().to_string(), "keep (any value)");
        assert_eq!(c.opt_in_tag().map(|t| t.value), Some(None));
        let e = parse("[safety]\nexclude_tag = \"=true\"\n").expect_err("no key");
        assert!(
            e.to_string().contains("`safety.exclude_tag` = \"=true\""),
            "{e}"
        );
    }
}
