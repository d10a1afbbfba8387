"""A deterministic synthetic ECR organization, computed on demand.

Nothing per image is stored: every attribute of image `j` of repository `k` in unit `u`
(one registry account × region) is derived from a hash of (seed, u, k, j), and the
coordinates are written into the digest itself, so any digest a client sends back
(DescribeImages with imageIds, BatchGetImage, BatchDeleteImage) decodes to its image
without a lookup. Only the repository sizes are kept (a few integers per repository), which
is what lets a 1,000,000-image organization be served from a few megabytes.

Layout of a repository, by position `j` in groups of 20:

* `j % 20 == 0`: an OCI image index (tagged) whose children are `j + 1` and `j + 2`
  (untagged image manifests), when the repository is long enough;
* `j % 20 == 3`: a cosign signature of `j + 1`, tagged `sha256-<hex>.sig`;
* `j % 20 == 5`: an OCI referrer (SBOM) whose `subjectManifestDigest` is `j - 1`;
* everything else: an image manifest, tagged `v<j>` (and `latest-<j>` for some) or not.

Push times go back up to 500 days, so most images are older than a 90-day `unused_days`;
Inspector coverage exists for most images, some with a recent `lastInUseAt`. Every repository
but one in ten carries the opt-in tag `ecrgc:auto-delete=true`. The Config aggregator holds
one ACTIVE task definition per repository, naming its newest tagged plain image by tag.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
COSIGN_SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM = "application/spdx+json"

GROUP = 20
DAY = 86400


@dataclass(slots=True)
class Image:
    """One image as DescribeImages (and Inspector) describe it."""

    unit: int
    repo: int
    pos: int
    digest: str
    kind: str  # index | child | sig | sbom | image
    tags: list[str]
    pushed_at: int
    size: int
    media_type: str
    artifact_media_type: str | None
    last_pull: int | None
    subject: str | None
    children: list[str] = field(default_factory=list)
    covered: bool = False
    last_in_use_at: int | None = None
    in_use_count: int = 0
    pulled_at: int | None = None


def _h(*parts: object) -> bytes:
    return hashlib.sha256(":".join(map(str, parts)).encode()).digest()


def _u(b: bytes, i: int) -> float:
    """The i-th uniform in [0, 1) of a hash (i < 8)."""
    return struct.unpack_from(">I", b, 4 * i)[0] / 4294967296.0


class Org:
    def __init__(self, images: int, accounts: int, regions: list[str], mean_repo: int,
                 now: int, seed: int = 1, first_account: int = 210000000000):
        if images < 1 or accounts < 1 or not regions or mean_repo < 1:
            raise ValueError("images, accounts, regions and mean_repo must be positive")
        self.total = images
        self.seed = seed
        self.now = now
        self.regions = list(regions)
        self.accounts = [f"{first_account + i:012d}" for i in range(accounts)]
        self._groups: dict[tuple[int, int, int], float] = {}
        self.units = [(a, r) for a in self.accounts for r in self.regions]
        self.unit_index = {u: i for i, u in enumerate(self.units)}
        n = len(self.units)
        # Repository sizes: a skewed spread around mean_repo, summing exactly to the unit's share.
        self.sizes: list[list[int]] = []
        for u in range(n):
            share = images // n + (1 if u < images % n else 0)
            repos = max(1, round(share / mean_repo))
            weights = [0.2 + 3.0 * _u(_h(seed, "repo", u, k), 0) ** 3 for k in range(repos)]
            total_w = sum(weights)
            sizes = [int(share * w / total_w) for w in weights]
            for k in range(share - sum(sizes)):
                sizes[k % repos] += 1
            self.sizes.append(sizes)

    # -- names -------------------------------------------------------------------------------

    def repo_name(self, unit: int, k: int) -> str:
        return f"team{k % 37:02d}/service-{unit:03d}-{k:05d}"

    def repo_index(self, unit: int, name: str) -> int | None:
        try:
            tail = name.rsplit("-", 2)
            u, k = int(tail[1]), int(tail[2])
        except (IndexError, ValueError):
            return None
        if u != unit or not 0 <= k < len(self.sizes[unit]) or self.repo_name(unit, k) != name:
            return None
        return k

    def opted_in(self, unit: int, k: int) -> bool:
        return k % 10 != 9

    def created_at(self, unit: int, k: int) -> int:
        return self.now - 600 * DAY + k

    def digest(self, unit: int, k: int, j: int) -> str:
        h = hashlib.sha256(f"{self.seed}:img:{unit}:{k}:{j}".encode()).hexdigest()
        return f"sha256:{h[:46]}{unit:04x}{k:06x}{j:08x}"

    @staticmethod
    def decode(digest: str) -> tuple[int, int, int] | None:
        if not digest.startswith("sha256:") or len(digest) != 71:
            return None
        tail = digest[-18:]
        try:
            return int(tail[0:4], 16), int(tail[4:10], 16), int(tail[10:18], 16)
        except ValueError:
            return None

    def valid(self, unit: int, k: int, j: int, digest: str) -> bool:
        return 0 <= k < len(self.sizes[unit]) and 0 <= j < self.sizes[unit][k] \
            and self.digest(unit, k, j) == digest

    # -- images ------------------------------------------------------------------------------

    def kind(self, size: int, j: int) -> str:
        g = j % GROUP
        base = j - g
        if g == 0 and base + 2 < size:
            return "index"
        if g in (1, 2) and base + 2 < size:
            return "child"
        if g == 3 and j + 1 < size:
            return "sig"
        if g == 5:
            return "sbom"
        return "image"

    def image(self, unit: int, k: int, j: int) -> Image:
        size = self.sizes[unit][k]
        hb = hashlib.sha256(f"{self.seed}:img:{unit}:{k}:{j}".encode()).digest()
        digest = f"sha256:{hb.hex()[:46]}{unit:04x}{k:06x}{j:08x}"
        u = [x / 4294967296.0 for x in struct.unpack(">8I", hb)]
        kind = self.kind(size, j)
        pushed = self.now - int((1 + 500 * self._group(unit, k, j // GROUP)) * DAY) - (j % GROUP) * 60
        tags: list[str] = []
        media, artifact, subject, children = OCI_MANIFEST, OCI_CONFIG, None, []
        if kind == "index":
            media, artifact = OCI_INDEX, None
            tags = [f"v{j}"]
            children = [self.digest(unit, k, j + 1), self.digest(unit, k, j + 2)]
        elif kind == "child":
            pass
        elif kind == "sig":
            artifact = COSIGN_SIG
            tags = ["sha256-" + self.digest(unit, k, j + 1)[7:] + ".sig"]
        elif kind == "sbom":
            artifact = SBOM
            subject = self.digest(unit, k, j - 1)
        elif u[0] < 0.7:
            tags = [f"v{j}"] + ([f"latest-{j}"] if u[1] < 0.1 else [])
        last_pull = None
        if u[2] < 0.3:
            last_pull = self.now - int(400 * DAY * u[3])
        img = Image(unit, k, j, digest, kind, tags, pushed, 10_000_000 + int(u[4] * 990_000_000),
                    media, artifact, last_pull, subject, children)
        # Inspector: most images covered; a fifth of those were in use within 60 days.
        if u[5] < 0.9:
            img.covered = True
            if u[6] < 0.2:
                img.last_in_use_at = self.now - int(60 * DAY * u[7])
                img.pulled_at = img.last_in_use_at
        return img

    def _group(self, unit: int, k: int, g: int) -> float:
        """The push-age uniform shared by a group of 20 (an index and its children)."""
        key = (unit, k, g)
        v = self._groups.get(key)
        if v is None:
            if len(self._groups) > 100_000:
                self._groups.clear()
            v = self._groups[key] = _u(_h(self.seed, "grp", unit, k, g), 0)
        return v

    def newest_tagged(self, unit: int, k: int) -> tuple[int, str] | None:
        """The task definition of repository k names this tag (the last tagged plain image)."""
        for j in range(self.sizes[unit][k] - 1, -1, -1):
            img = self.image(unit, k, j)
            if img.kind == "image" and img.tags:
                return j, img.tags[0]
        return None

    def totals(self) -> dict:
        """Rows every table of a complete snapshot must hold (computed image by image)."""
        t = {"repositories": 0, "images": 0, "image_tags": 0, "image_relations": 0,
             "inspector_coverage": 0, "task_definitions": 0, "opted_in_repositories": 0}
        for u, sizes in enumerate(self.sizes):
            for k, size in enumerate(sizes):
                t["repositories"] += 1
                t["opted_in_repositories"] += self.opted_in(u, k)
                t["task_definitions"] += self.newest_tagged(u, k) is not None
                for j in range(size):
                    img = self.image(u, k, j)
                    t["images"] += 1
                    t["image_tags"] += len(img.tags)
                    t["image_relations"] += len(img.children) + (img.kind in ("sig", "sbom"))
                    t["inspector_coverage"] += img.covered
        return t
