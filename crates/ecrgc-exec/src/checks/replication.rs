//! Delete replication in the executor: the order items are worked in, and the live check of
//! each registry's rules.
//!
//! With a replication rule that replicates deletions, deleting an image in the source deletes
//! the same digest in every destination of the rule (ECR user guide, "Replicating image
//! deletions in Amazon ECR"). The plan lists, per item, the destinations it considered
//! (`replica_destinations`) and the replicas a deletion takes along (`replicas`, each an item
//! of the manifest itself). The executor therefore:
//!
//! * reads every registry's rules live (DescribeRegistry) before its first batch, and skips an
//!   item whose deletion would now replicate to a destination the plan did not consider
//!   (`replication_changed`), or every item of a registry whose rules cannot be read
//!   (`replication_check_failed`);
//! * works in phases: an item's replicas are re-checked and deleted (as items of their own,
//!   with every live check) in an earlier phase than the item, and the item is deleted only
//!   when every one of them is gone; a replica that is not an item of the manifest (a reviewer
//!   removed it), or was left alone, keeps its source (`replica_kept`). Sources that replicate
//!   to each other (two rules pointing both ways) cannot be ordered and are left alone
//!   (`replication_cycle`): deleting either would delete the other before its checks.

use std::collections::HashMap;

use ecrgc_manifest::Item;

use crate::skip::SkipReason;

/// The key of an image: account, region, repository, digest.
pub(crate) use ecrgc_model::keys::ImageKey;

fn key(item: &Item) -> ImageKey {
    ImageKey::new(
        &item.account_id,
        &item.region,
        &item.repository_name,
        &item.image_digest,
    )
}

/// The replica of `item` in `destination` (`account/region`): same repository and digest.
pub(crate) fn replica_key(item: &Item, destination: &str) -> ImageKey {
    let (account, region) = destination.split_once('/').unwrap_or((destination, ""));
    ImageKey::new(account, region, &item.repository_name, &item.image_digest)
}

/// An item left alone before any call, with its reason and message.
pub(crate) type Refused<'a> = (&'a Item, SkipReason, String);

/// The phase of every pending item (0 first), or why it cannot have one: an item's phase is
/// after its replicas' and not before its parents' (a child follows its index). `known` holds
/// every item of the manifest, pending or done.
pub(crate) fn phases<'a>(
    pending: &[&'a Item],
    known: &HashMap<ImageKey, &'a Item>,
) -> (Vec<Vec<&'a Item>>, Vec<Refused<'a>>) {
    let mut phase: HashMap<ImageKey, usize> = pending.iter().map(|i| (key(i), 0)).collect();
    let mut refused: Vec<Refused<'a>> = Vec::new();
    let mut missing: HashMap<ImageKey, String> = HashMap::new();
    for item in pending {
        for d in &item.replicas {
            if !known.contains_key(&replica_key(item, d)) {
                missing.entry(key(item)).or_insert_with(|| {
                    format!(
                        "deleting it deletes its replica in {d}, which is not an item of this \
                         manifest (removed in review, or not planned)"
                    )
                });
            }
        }
    }
    // Longest-path relaxation; more rounds than items means a cycle.
    let rounds = pending.len() + 1;
    let mut changed = true;
    let mut round = 0;
    while changed && round < rounds {
        changed = false;
        round += 1;
        for item in pending {
            let k = key(item);
            let mut p = phase[&k];
            for d in &item.replicas {
                if let Some(rp) = phase.get(&replica_key(item, d)) {
                    p = p.max(rp + 1);
                }
            }
            for parent in &item.parent_digests {
                let pk = k.repository().image(parent);
                if let Some(pp) = phase.get(&pk) {
                    p = p.max(*pp);
                }
            }
            if p != phase[&k] {
                phase.insert(k, p);
                changed = true;
            }
        }
    }
    let cyclic = changed;
    let mut out: Vec<Vec<&Item>> = Vec::new();
    for item in pending {
        let k = key(item);
        if let Some(why) = missing.get(&k) {
            refused.push((item, SkipReason::ReplicaKept, why.clone()));
            continue;
        }
        let p = phase[&k];
        if cyclic && p >= pending.len() {
            refused.push((
                item,
                SkipReason::ReplicationCycle,
                "its replicas replicate deletions back to it".to_owned(),
            ));
            continue;
        }
        if out.len() <= p {
            out.resize_with(p + 1, Vec::new);
        }
        out[p].push(item);
    }
    out.retain(|v| !v.is_empty());
    (out, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(region: &str, digest: &str, replicas: &[&str]) -> Item {
        Item {
            item_id: format!("{region}{digest}"),
            account_id: "111111111111".into(),
            region: region.into(),
            repository_name: "app".into(),
            image_digest: digest.into(),
            image_tags: vec![],
            image_size_bytes: 1,
            image_manifest_media_type: String::new(),
            rule: "untagged_fallback".into(),
            parent_digests: vec![],
            replicas: replicas.iter().map(|s| (*s).to_owned()).collect(),
            replica_bytes: 0,
            replica_destinations: replicas.iter().map(|s| (*s).to_owned()).collect(),
            evidence: Default::default(),
        }
    }

    fn index(items: &[Item]) -> HashMap<ImageKey, &Item> {
        items.iter().map(|i| (key(i), i)).collect()
    }

    #[test]
    fn replicas_go_first_and_missing_replicas_keep_their_source() {
        let items = vec![
            item("eu-west-1", "sha256:a", &["111111111111/us-east-1"]),
            item("us-east-1", "sha256:a", &[]),
            item("eu-west-1", "sha256:b", &["111111111111/us-east-1"]),
        ];
        let known = index(&items);
        let pending: Vec<&Item> = items.iter().collect();
        let (phases, refused) = phases(&pending, &known);
        assert_eq!(phases.len(), 2);
        assert_eq!(phases[0][0].region, "us-east-1");
        assert_eq!(phases[1][0].image_digest, "sha256:a");
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0.image_digest, "sha256:b");
        assert_eq!(refused[0].1, SkipReason::ReplicaKept);
    }

    #[test]
    fn sources_replicating_to_each_other_are_refused() {
        let items = vec![
            item("eu-west-1", "sha256:a", &["111111111111/us-east-1"]),
            item("us-east-1", "sha256:a", &["111111111111/eu-west-1"]),
            item("eu-west-1", "sha256:c", &[]),
        ];
        let known = index(&items);
        let pending: Vec<&Item> = items.iter().collect();
        let (phases, refused) = phases(&pending, &known);
        assert_eq!(refused.len(), 2);
        assert!(refused.iter().all(|r| r.1 == SkipReason::ReplicationCycle));
        assert_eq!(phases.concat().len(), 1);
    }
}
