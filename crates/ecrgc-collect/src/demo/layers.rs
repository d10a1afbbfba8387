//! The layers of the demo's images, as `collect --layers` would read them: the builds of
//! a repository share the base layers of their base-image generation and platform and
//! differ in one or two top layers, multi-arch children have their own platform's layers,
//! signatures and SBOMs have one small layer. Layers come from random streams of their own,
//! so the images (and every figure of a plan) are the same with or without them.

use std::collections::HashMap;

use ecrgc_model::ImageLayerRow;
use ecrgc_model::time::{DAY, Micros};

use super::facts::{COSIGN_ARTIFACT, ImageFact, MEDIA_DOCKER, MEDIA_INDEX};
use super::organization::Repo;
use super::writing::{SourceCounts, Tables};
use crate::rng::Rng;

const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const COSIGN_LAYER: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The digest of `{}`, the empty config every OCI artifact without a config shares.
const OCI_EMPTY_DIGEST: Digest = Digest([
    0x4413_6fa3_55b3_678a,
    0x1146_ad16_f7e8_649e,
    0x94fb_4fc2_1fe7_7e83,
    0x10c0_60f6_1caa_ff8a,
]);

/// The base image of a repository is rebuilt this often; builds in between share it.
const BASE_GENERATION: Micros = 60 * DAY;
/// Random streams of the layer generator start here, apart from the repositories' own.
const LAYER_STREAMS: u64 = 1 << 40;
/// Base layers a build takes while they fit in this share of its size.
const BASE_SHARE_PERCENT: i64 = 85;

/// A `sha256:` digest as its bits: layers are many, so they are hashed and copied as
/// numbers and spelled out only when written (as [`Rng::digest`] spells them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Digest([u64; 4]);

impl Digest {
    /// Draws the same bits [`Rng::digest`] would.
    fn draw(rng: &mut Rng) -> Self {
        Self([
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
        ])
    }

    /// Spells the digest into `buf`, reusing its allocation.
    fn spell<'a>(&self, buf: &'a mut String) -> &'a str {
        use std::fmt::Write;
        buf.clear();
        let [a, b, c, d] = self.0;
        // Writing into a String cannot fail.
        let _ = write!(buf, "sha256:{a:016x}{b:016x}{c:016x}{d:016x}");
        buf
    }
}

/// The layers of one repository's images, and which of them deleted and kept images list.
pub(super) struct RepoLayers {
    seed: u64,
    repo_index: u64,
    /// Top layers and configs, drawn in image order.
    rng: Rng,
    /// Base stacks by (generation, platform): digest and size, bottom first.
    stacks: HashMap<(i64, u64), Vec<(Digest, i64)>>,
    /// Every blob listed: size, listed by a `delete` image, listed by any other image.
    blobs: HashMap<Digest, (i64, bool, bool)>,
    /// Scratch space for spelling digests.
    spelled: String,
}

impl RepoLayers {
    pub(super) fn new(seed: u64, repo_index: u64) -> Self {
        Self {
            seed,
            repo_index,
            rng: Rng::derive(seed, LAYER_STREAMS + repo_index),
            stacks: HashMap::new(),
            blobs: HashMap::new(),
            spelled: String::with_capacity(72),
        }
    }

    /// The base stack of a generation and platform: OS, runtime, dependencies, each drawn
    /// from a stream of its own so that it does not depend on the order images come in.
    fn stack(&mut self, generation: i64, platform: u64) -> &[(Digest, i64)] {
        let (seed, repo_index) = (self.seed, self.repo_index);
        self.stacks
            .entry((generation, platform))
            .or_insert_with(|| {
                let stream =
                    LAYER_STREAMS + (repo_index << 16) + ((generation as u64) << 1) + platform + 1;
                let mut rng = Rng::derive(seed ^ LAYER_STREAMS, stream);
                [
                    (20_000_000, 35_000_000),
                    (30_000_000, 120_000_000),
                    (40_000_000, 300_000_000),
                    (80_000_000, 600_000_000),
                ]
                .iter()
                .map(|(lo, hi)| (Digest::draw(&mut rng), rng.range(*lo, *hi)))
                .collect()
            })
    }

    /// Writes the blobs of `image` and notes who lists them. Layers (kind `layer`) add up
    /// to the image's `imageSizeInBytes`; the config comes on top.
    pub(super) fn write(
        &mut self,
        t: &mut Tables,
        counts: &mut SourceCounts,
        repo: &Repo,
        image: &ImageFact,
        deleted: bool,
    ) {
        if image.media_type == MEDIA_INDEX {
            return; // an index's bytes are its children's
        }
        let docker = image.media_type == MEDIA_DOCKER;
        let (config_type, layer_type) = if docker {
            (DOCKER_CONFIG, DOCKER_LAYER)
        } else {
            (OCI_CONFIG, OCI_LAYER)
        };
        let mut blobs: Vec<(Digest, i64, &'static str)> = Vec::with_capacity(8);
        let rng = &mut self.rng;
        match image.artifact_media_type {
            Some(COSIGN_ARTIFACT) => {
                blobs.push((Digest::draw(rng), rng.range(200, 300), OCI_CONFIG));
                blobs.push((Digest::draw(rng), image.size, COSIGN_LAYER));
            }
            Some(artifact) => {
                blobs.push((OCI_EMPTY_DIGEST, 2, OCI_EMPTY));
                blobs.push((Digest::draw(rng), image.size, artifact));
            }
            None => {
                blobs.push((Digest::draw(rng), rng.range(2_000, 12_000), config_type));
                let budget = image.size * BASE_SHARE_PERCENT / 100;
                let mut used = 0;
                let generation = image.age / BASE_GENERATION;
                for (digest, size) in self.stack(generation, image.platform) {
                    if used + size > budget {
                        break;
                    }
                    used += size;
                    blobs.push((*digest, *size, layer_type));
                }
                // The build's own layers: dependencies that changed, then the application.
                let rng = &mut self.rng;
                let rest = image.size - used;
                if rng.chance(50) {
                    let first = rest * rng.range(10, 60) / 100;
                    blobs.push((Digest::draw(rng), first, layer_type));
                    blobs.push((Digest::draw(rng), rest - first, layer_type));
                } else {
                    blobs.push((Digest::draw(rng), rest, layer_type));
                }
            }
        }
        for (i, (digest, size, media_type)) in blobs.iter().enumerate() {
            let entry = self.blobs.entry(*digest).or_insert((*size, false, false));
            if deleted {
                entry.1 = true;
            } else {
                entry.2 = true;
            }
            counts.add(repo.account, repo.region, "ecr_layers");
            t.image_layers.append(ImageLayerRow {
                account_id: repo.account,
                region: repo.region,
                repository_name: &repo.name,
                image_digest: &image.digest,
                layer_digest: digest.spell(&mut self.spelled),
                layer_size_bytes: *size,
                media_type,
                layer_kind: if i == 0 { "config" } else { "layer" },
                layer_index: (i > 0).then(|| i as i64 - 1),
            });
        }
    }

    /// Bytes of the blobs only deleted images list.
    pub(super) fn freed(&self) -> u64 {
        self.blobs
            .values()
            .filter(|(_, deleted, kept)| *deleted && !*kept)
            .map(|(size, _, _)| *size as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_spelled_as_the_generator_spells_them() {
        let mut buf = String::new();
        assert_eq!(
            Digest::draw(&mut Rng::new(9)).spell(&mut buf),
            Rng::new(9).digest()
        );
        assert_eq!(
            OCI_EMPTY_DIGEST.spell(&mut buf),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
