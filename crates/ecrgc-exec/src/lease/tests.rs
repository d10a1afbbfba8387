//! The lease against an in-memory and a local store: refusal, expiry, takeover, races,
//! renewal and release.

use super::record::process_identity;
use super::*;

const TTL: Duration = Duration::from_secs(60);

fn holder(session: &str) -> Holder {
    Holder::this_process(
        Some("arn:aws:sts::111111111111:assumed-role/ops/alice"),
        session,
    )
}

fn record(generation: u64, state: LeaseState, holder: Holder, expires_at: Micros) -> Vec<u8> {
    serde_json::to_vec(&LeaseRecord {
        lease_version: LEASE_VERSION,
        plan_id: "plan".into(),
        generation,
        state,
        holder,
        written_at: rfc3339(expires_at - 60_000_000),
        expires_at: rfc3339(expires_at),
        lease_seconds: 60,
        tool_version: "test".into(),
    })
    .expect("json")
}

fn elsewhere() -> Holder {
    Holder {
        arn: Some("arn:aws:sts::222222222222:assumed-role/ci/runner".into()),
        host: "build-7".into(),
        pid: 4242,
        session: "20261121T030000000Z-1092".into(),
        process: None,
    }
}

async fn generations(store: &Store) -> Vec<String> {
    store.list_objects(&[FOLDER, "plan"]).await.expect("list")
}

#[tokio::test]
async fn a_second_apply_is_refused_naming_the_holder_until_the_first_releases() {
    let store = Store::in_memory();
    let first = Lease::acquire(&store, "plan", holder("s1"), TTL)
        .await
        .expect("free");
    assert_eq!(first.generation(), 1);
    assert!(first.still_held());
    first.check().expect("held");

    let err = Lease::acquire(&store, "plan", holder("s2"), TTL)
        .await
        .expect_err("held");
    assert_eq!(err.exit_code(), 2);
    let text = err.to_string();
    for part in [
        "arn:aws:sts::111111111111:assumed-role/ops/alice",
        &format!("host {}", host_name()),
        &format!("pid {}", std::process::id()),
        "session s1",
        "expires",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }

    first.release().await;
    let second = Lease::acquire(&store, "plan", holder("s2"), TTL)
        .await
        .expect("released");
    assert_eq!(second.generation(), 3, "after the released generation 2");
    assert!(
        second.took_over().is_none(),
        "a released lease is not taken over"
    );
    assert_eq!(generations(&store).await.len(), 3, "nothing is overwritten");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_an_unexpired_one_of_another_host_is_not() {
    let store = Store::in_memory();
    let path = |g: u64| object_name(g);
    store
        .put_object(
            &[FOLDER, "plan", &path(7)],
            record(7, LeaseState::Held, elsewhere(), now() + 3_600_000_000),
        )
        .await
        .expect("seed");
    let err = Lease::take(&store, "plan", holder("s"), TTL)
        .await
        .expect_err("held elsewhere");
    let text = err.to_string();
    assert!(
        text.contains("arn:aws:sts::222222222222:assumed-role/ci/runner on host build-7 (pid 4242"),
        "{text}"
    );

    store
        .put_object(
            &[FOLDER, "plan", &path(8)],
            record(8, LeaseState::Held, elsewhere(), now() - 1_000_000),
        )
        .await
        .expect("seed");
    let lease = Lease::take(&store, "plan", holder("s"), TTL)
        .await
        .expect("expired");
    assert_eq!(lease.generation(), 9);
    assert_eq!(lease.took_over().map(|r| r.generation), Some(8));
    assert!(lease.still_held());
}

#[tokio::test]
async fn the_lease_of_a_dead_process_on_this_host_is_taken_over_at_once() {
    if process_identity(std::process::id()).is_none() {
        return; // no /proc: only expiry frees a lease
    }
    let store = Store::in_memory();
    let mut dead = holder("crashed");
    // A process that started at another time under this PID: not the holder.
    let identity = dead.process.clone().expect("identity");
    let (place, _) = identity.rsplit_once('/').expect("place");
    dead.process = Some(format!("{place}/1"));
    store
        .put_object(
            &[FOLDER, "plan", &object_name(1)],
            record(1, LeaseState::Held, dead, now() + 3_600_000_000),
        )
        .await
        .expect("seed");
    let lease = Lease::take(&store, "plan", holder("s"), TTL)
        .await
        .expect("the holder is gone");
    assert_eq!(lease.generation(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_racing_applies_exactly_one_wins() {
    for round in 0..20 {
        let store = Store::in_memory();
        let tries = (0..6).map(|i| {
            let store = store.clone();
            tokio::spawn(
                async move { Lease::take(&store, "plan", holder(&format!("s{i}")), TTL).await },
            )
        });
        let results = futures::future::join_all(tries).await;
        let won: Vec<_> = results
            .into_iter()
            .map(|r| r.expect("task"))
            .filter_map(|r| match r {
                Ok(lease) => Some(lease),
                Err(ExecError::LeaseHeld { .. }) => None,
                Err(e) => panic!("round {round}: {e}"),
            })
            .collect();
        assert_eq!(won.len(), 1, "round {round}");
        assert_eq!(generations(&store).await.len(), 1);
    }
}

#[tokio::test]
async fn a_renewal_that_finds_its_generation_taken_loses_the_lease() {
    let store = Store::in_memory();
    let lease = Lease::take(&store, "plan", holder("s"), TTL)
        .await
        .expect("free");
    assert!(lease.renew().await.expect("renewed"));
    assert_eq!(lease.generation(), 2);
    assert!(lease.still_held());

    // Another apply believed generation 2 expired and took generation 3 first.
    store
        .put_object_if_absent(
            &[FOLDER, "plan", &object_name(3)],
            record(3, LeaseState::Held, elsewhere(), now() + 60_000_000),
        )
        .await
        .expect("seed");
    assert!(!lease.renew().await.expect("answered"));
    assert!(!lease.still_held());
    let err = lease.check().expect_err("lost");
    assert_eq!(err.exit_code(), 1);
    assert!(err.to_string().contains("host build-7"), "{err}");
    // Releasing a lost lease writes nothing over the new holder's.
    lease.release().await;
    assert_eq!(generations(&store).await.len(), 3);
    let current = lease.inner.current().await.expect("read").expect("some");
    assert_eq!(current.holder, elsewhere());
}

#[tokio::test]
async fn the_holder_renews_in_the_background_and_releases_at_the_end() {
    let store = Store::in_memory();
    let lease = Lease::acquire(&store, "plan", holder("s"), Duration::from_millis(600))
        .await
        .expect("free");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(lease.generation() >= 3, "renewed every 200 ms: {lease:?}");
    assert!(lease.still_held());
    Lease::take(&store, "plan", holder("other"), TTL)
        .await
        .expect_err("renewed, so still held");
    lease.release().await;
    let current = lease.inner.current().await.expect("read").expect("some");
    assert_eq!(current.state, LeaseState::Released);
    assert_eq!(current.generation, lease.generation());
    let written = generations(&store).await.len();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        generations(&store).await.len(),
        written,
        "no renewal after release"
    );
}

#[tokio::test]
async fn a_lease_that_could_not_be_renewed_stops_a_quarter_before_its_expiry() {
    let store = Store::in_memory();
    let lease = Lease::take(&store, "plan", holder("s"), TTL)
        .await
        .expect("free");
    // As if the last renewal had succeeded 44 s ago: 16 s left, under the 15 s reserve
    // only in 1 s; then 14 s left.
    lease
        .inner
        .expires_at
        .store(now() + 16_000_000, Ordering::SeqCst);
    assert!(lease.still_held());
    lease
        .inner
        .expires_at
        .store(now() + 14_000_000, Ordering::SeqCst);
    assert!(!lease.still_held());
    assert!(
        lease
            .check()
            .expect_err("reserve reached")
            .to_string()
            .contains("could not be renewed"),
    );
}

#[tokio::test]
async fn a_corrupt_lease_is_reported_not_overwritten() {
    let store = Store::in_memory();
    store
        .put_object(&[FOLDER, "plan", &object_name(1)], b"{not json".to_vec())
        .await
        .expect("seed");
    let err = Lease::take(&store, "plan", holder("s"), TTL)
        .await
        .expect_err("corrupt");
    assert!(
        matches!(err, ExecError::LeaseCorrupt { .. }) && err.to_string().contains("_leases/plan/"),
        "{err}"
    );
}

#[test]
fn generations_sort_by_name() {
    assert_eq!(object_name(12), "00000000000000000012.json");
    assert_eq!(generation_of(&object_name(12)), Some(12));
    assert_eq!(generation_of("12.json"), None);
    assert_eq!(generation_of("00000000000000000012.json#1"), None);
    assert!(object_name(9) < object_name(10));
}
