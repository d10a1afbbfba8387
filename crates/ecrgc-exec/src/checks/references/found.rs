//! What a reading finds: the references to images, matched by digest, resolved digest or tag
//! (see [`crate::checks::references`] for the matching rules).

use std::collections::HashMap;

use ecrgc_model::image_ref::parse_image_ref;

/// A repository: account, region, name.
pub use ecrgc_model::keys::RepositoryKey;

/// An image reference found live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Tag named, if any.
    pub tag: Option<String>,
    /// Digest named, if any.
    pub digest: Option<String>,
    /// Digest the service resolved (a task's or service revision's `imageDigest`, Lambda's
    /// `ResolvedImageUri`).
    pub resolved_digest: Option<String>,
    /// The workload naming it.
    pub resource: String,
}

/// The references read in one account × region (or in several, merged).
#[derive(Debug, Default)]
pub struct Found {
    pub(super) by_repo: HashMap<RepositoryKey, Vec<Reference>>,
    /// Unparsable references by the registry they name: account, and region when named.
    malformed: HashMap<(String, Option<String>), Vec<Reference>>,
    /// References to a whole repository (a declared repository without tag or digest).
    whole: HashMap<RepositoryKey, Reference>,
    /// Sources that could not be read, as `account/region source: error`.
    pub failures: Vec<String>,
    /// Workload resources examined.
    pub examined: u64,
}

impl Found {
    /// The first reference naming the image `digest` (carrying `tags`) of `repo`. An
    /// unparsable reference to the registry of `repo` counts for every image of it.
    pub fn matching(
        &self,
        repo: &RepositoryKey,
        digest: &str,
        tags: &[&str],
    ) -> Option<&Reference> {
        let exact = self.by_repo.get(repo).and_then(|refs| {
            refs.iter().find(|r| {
                r.digest.as_deref() == Some(digest)
                    || r.resolved_digest.as_deref() == Some(digest)
                    || (r.digest.is_none() && r.tag.as_deref().is_some_and(|t| tags.contains(&t)))
            })
        });
        exact.or_else(|| self.whole.get(repo)).or_else(|| {
            [Some(repo.region.clone()), None]
                .into_iter()
                .find_map(|region| self.malformed.get(&(repo.account_id.clone(), region)))
                .and_then(|refs| refs.first())
        })
    }

    /// Records a reference of `resource` to every image of the repository `image` names
    /// (its tag, if any, is ignored).
    pub(crate) fn add_repository(&mut self, image: &str, resource: &str) {
        let parsed = parse_image_ref(image);
        if let (true, Some(account), Some(region)) =
            (parsed.is_ecr, parsed.account_id, parsed.region)
        {
            self.whole.insert(
                RepositoryKey::new(account, region, parsed.repository),
                Reference {
                    tag: None,
                    digest: None,
                    resolved_digest: None,
                    resource: format!("{resource} (names the whole repository)"),
                },
            );
        } else {
            // A malformed one blocks its registry, as any other.
            self.add(image, None, resource);
        }
    }

    /// Records `image` (as a workload names it), with the digest the service resolved it
    /// to, for `resource`.
    pub(crate) fn add(&mut self, image: &str, resolved_digest: Option<&str>, resource: &str) {
        let parsed = parse_image_ref(image);
        if parsed.is_malformed_ecr() {
            // Without an account it names no registry this sweep could protect.
            if let Some(account) = parsed.account_id {
                self.malformed
                    .entry((account, parsed.region))
                    .or_default()
                    .push(Reference {
                        tag: None,
                        digest: None,
                        resolved_digest: None,
                        resource: format!(
                            "{resource} (unparsable reference {image:?}: {})",
                            parsed.parse_error.unwrap_or_default()
                        ),
                    });
            }
            return;
        }
        let (Some(account), Some(region)) = (parsed.account_id, parsed.region) else {
            return;
        };
        if !parsed.is_ecr {
            return;
        }
        self.by_repo
            .entry(RepositoryKey::new(account, region, parsed.repository))
            .or_default()
            .push(Reference {
                tag: parsed.tag,
                digest: parsed.digest,
                resolved_digest: resolved_digest
                    .filter(|d| d.starts_with("sha256:"))
                    .map(str::to_owned),
                resource: resource.to_owned(),
            });
    }
}
