//! `[engine]`: how much memory the query engine may take and where it spills beyond it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// The smallest memory limit accepted (1 MiB): a limit is a size with a unit, and a bare
/// `4` meant as gigabytes is refused rather than read as 4 bytes.
pub const MIN_MEMORY_LIMIT: u64 = 1 << 20;

/// `[engine]`: the memory the query engine's operators (joins, aggregates, sorts) may hold
/// during `plan`, `explain`, `report`, `lifecycle suggest` and `query`. Sorts and
/// aggregates beyond it spill to `spill_dir`; a plan whose hash joins do not fit runs again
/// with sort-merge joins, which spill too. Neither setting changes a decision.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// The limit: bytes (`4294967296`) or with a binary unit (`512MiB`, `4GiB`), at least
    /// [`MIN_MEMORY_LIMIT`]. Unset: all the memory the process may use (the smaller of the
    /// machine's memory and the container's cgroup limit), which the engine reaches only where
    /// the process would otherwise be killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
    /// Where spilled data goes (created if missing). Unset: the system's temporary folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spill_dir: Option<PathBuf>,
}

impl EngineConfig {
    pub(crate) fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The memory limit in bytes, when one is set (validated by [`Self::validate`]).
    pub fn memory_limit_bytes(&self) -> Option<u64> {
        self.memory_limit
            .as_deref()
            .and_then(|v| parse_bytes(v).ok())
    }

    pub(crate) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        if let Some(value) = &self.memory_limit {
            let bytes = parse_bytes(value).map_err(|reason| ConfigError::Invalid {
                path: path.to_owned(),
                key: "engine.memory_limit".into(),
                value: value.clone(),
                reason,
            })?;
            if bytes < MIN_MEMORY_LIMIT {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    key: "engine.memory_limit".into(),
                    value: value.clone(),
                    reason: "at least 1MiB; write the unit, e.g. 4GiB".into(),
                });
            }
        }
        if let Some(dir) = &self.spill_dir
            && dir.as_os_str().is_empty()
        {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                key: "engine.spill_dir".into(),
                value: String::new(),
                reason: "a folder path, or leave the key out for the system's temporary folder"
                    .into(),
            });
        }
        Ok(())
    }
}

/// Bytes from `4294967296`, `512MiB`, `4GiB`, `1TiB` (binary units; `KiB` to `TiB`, `B`).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let shift = match unit.trim() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        "TiB" => 40,
        other => {
            return Err(format!(
                "unknown unit {other:?}: write bytes, or a number with B, KiB, MiB, GiB or TiB"
            ));
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| "a whole number of bytes, e.g. 4GiB or 4294967296".to_owned())?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| "too large".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<crate::Config, ConfigError> {
        crate::Config::parse(text, Path::new("ecrgc.toml"))
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_bytes("4294967296"), Ok(4 << 30));
        assert_eq!(parse_bytes("4GiB"), Ok(4 << 30));
        assert_eq!(parse_bytes("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1TiB"), Ok(1 << 40));
        assert!(parse_bytes("4GB").is_err());
        assert!(parse_bytes("GiB").is_err());
        assert!(parse_bytes("99999999999TiB").is_err());
    }

    #[test]
    fn the_engine_section_is_validated_and_left_out_of_the_hash_at_its_default() {
        let c = parse("[engine]\nmemory_limit = \"3GiB\"\nspill_dir = \"/tmp/spill\"\n")
            .expect("valid");
        assert_eq!(c.engine.memory_limit_bytes(), Some(3 << 30));
        assert_eq!(c.engine.spill_dir.as_deref(), Some(Path::new("/tmp/spill")));
        assert_eq!(
            parse("[engine]\n").expect("valid").hash(),
            parse("").expect("valid").hash()
        );
        for (text, value) in [
            ("[engine]\nmemory_limit = \"4 gigs\"\n", "4 gigs"),
            ("[engine]\nmemory_limit = \"4\"\n", "4"),
        ] {
            let e = parse(text).expect_err("refused").to_string();
            assert!(
                e.contains("ecrgc.toml") && e.contains("engine.memory_limit") && e.contains(value),
                "{e}"
            );
        }
        let e = parse("[engine]\nspill_dir = \"\"\n").expect_err("empty");
        assert!(e.to_string().contains("engine.spill_dir"), "{e}");
    }
}
