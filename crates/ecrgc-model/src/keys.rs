//! The keys that name a repository and an image across the organization.
//!
//! A repository is only unique per registry (account and region), and an image per
//! repository: two accounts may both have `app` with the same digest pushed, and deleting one
//! must never be mistaken for the other. Every map keyed by repository or image uses these
//! types instead of tuples, so the order of the parts is written down once.

use std::fmt;

/// A repository: the registry (account, region) and the repository's name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepositoryKey {
    /// The registry's account.
    pub account_id: String,
    /// The registry's region.
    pub region: String,
    /// The repository's name, with its namespace (`team/app`).
    pub repository_name: String,
}

impl RepositoryKey {
    /// The key of `repository_name` in the registry of `account_id` and `region`.
    pub fn new(
        account_id: impl Into<String>,
        region: impl Into<String>,
        repository_name: impl Into<String>,
    ) -> Self {
        Self {
            account_id: account_id.into(),
            region: region.into(),
            repository_name: repository_name.into(),
        }
    }

    /// The image of this repository with `image_digest`.
    pub fn image(&self, image_digest: impl Into<String>) -> ImageKey {
        ImageKey {
            account_id: self.account_id.clone(),
            region: self.region.clone(),
            repository_name: self.repository_name.clone(),
            image_digest: image_digest.into(),
        }
    }
}

impl fmt::Display for RepositoryKey {
    /// `account/region/repository`, the spelling logs and errors use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.account_id, self.region, self.repository_name
        )
    }
}

/// An image: its repository and its manifest digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageKey {
    /// The registry's account.
    pub account_id: String,
    /// The registry's region.
    pub region: String,
    /// The repository's name.
    pub repository_name: String,
    /// The manifest digest (`sha256:…`).
    pub image_digest: String,
}

impl ImageKey {
    /// The key of the image `image_digest` in `repository_name` of the registry of
    /// `account_id` and `region`.
    pub fn new(
        account_id: impl Into<String>,
        region: impl Into<String>,
        repository_name: impl Into<String>,
        image_digest: impl Into<String>,
    ) -> Self {
        Self {
            account_id: account_id.into(),
            region: region.into(),
            repository_name: repository_name.into(),
            image_digest: image_digest.into(),
        }
    }

    /// The repository the image is in.
    pub fn repository(&self) -> RepositoryKey {
        RepositoryKey::new(&*self.account_id, &*self.region, &*self.repository_name)
    }

    /// The image as a pullable URI (`<account>.dkr.ecr.<region>.amazonaws.com/repo@digest`).
    pub fn uri(&self) -> String {
        format!(
            "{}/{}@{}",
            crate::image_ref::ecr_host(&self.account_id, &self.region),
            self.repository_name,
            self.image_digest
        )
    }
}

impl fmt::Display for ImageKey {
    /// `account/region/repository@digest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}@{}",
            self.account_id, self.region, self.repository_name, self.image_digest
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_names_its_repository_and_orders_by_registry_first() {
        let a = ImageKey::new("111111111111", "us-east-1", "app", "sha256:b");
        let b = RepositoryKey::new("222222222222", "eu-west-1", "app").image("sha256:a");
        assert_eq!(
            a.repository(),
            RepositoryKey::new("111111111111", "us-east-1", "app")
        );
        assert!(a < b, "the account orders before the digest");
        assert_eq!(b.to_string(), "222222222222/eu-west-1/app@sha256:a");
        assert_eq!(a.repository().to_string(), "111111111111/us-east-1/app");
    }
}
