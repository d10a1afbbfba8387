//! The collected scope and the reference forms, end to end against the moto scenario
//! (`testing/moto/scenario.py`, `scope()`): a repository an uncollected account may pull is
//! blocked with the account named; an organization-wide grant is blocked unless the whole
//! organization is collected; dual-stack and `:443` references keep their images and an
//! unparsable one keeps its registry; an account that vanishes from the scope stays a
//! blocker for the history window; a registry account outside the collected accounts is
//! refused with exit 2 before anything is written.

use serde_json::Value;

use crate::common::moto::{CONFIG, Env, at, mismatches, now};
use crate::common::s;

const PARTNER: &str = "444444444444";

fn summary(env: &Env, out: &str) -> Value {
    serde_json::from_slice(&std::fs::read(env.path(out).join("summary.json")).expect("summary"))
        .expect("json")
}

/// The decisions.csv row of the image named `name` in the truth.
fn decision_line(env: &Env, out: &str, name: &str) -> String {
    let digest = env.truth["images"][name]["image_digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let text = std::fs::read_to_string(env.path(out).join("decisions.csv")).expect("csv");
    text.lines()
        .find(|l| l.contains(&digest))
        .unwrap_or_else(|| panic!("{name} has no decision"))
        .to_owned()
}

#[test]
fn uncollected_pullers_block_and_every_reference_form_is_read() {
    let Some(env) = Env::start(None) else { return };
    let config = env.config("ecrgc.toml", CONFIG);
    env.collect_and_plan(&config, "store", "out");
    // Every image as the truth says: partner-old and org-wide-old are blocked
    // (out_of_scope), typo-old too (malformed_reference), dualstack-ref and port443-ref are
    // kept by their references, refs-unused would be deleted (not opted in).
    let wrong = mismatches(&env, &env.path("out"), |_, e| e.to_owned());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    let partner = decision_line(&env, "out", "partner-old");
    assert!(
        partner.contains("out_of_scope") && partner.contains(PARTNER),
        "the detail names the partner account: {partner}"
    );
    let org = decision_line(&env, "out", "org-wide-old");
    assert!(
        org.contains("out_of_scope") && org.contains("organization not collected whole"),
        "{org}"
    );
    let typo = decision_line(&env, "out", "typo-old");
    assert!(typo.contains("malformed_reference"), "{typo}");

    let s = summary(&env, "out");
    let who = s["out_of_scope"].to_string();
    assert!(who.contains(PARTNER), "{who}");
    assert!(who.contains("any account of o-"), "{who}");
    let malformed = s["malformed_references"].to_string();
    assert!(
        malformed.contains(":5000/scope/typo:t1") && malformed.contains("\"source\":\"ecs\""),
        "{malformed}"
    );

    // The plan's text output names them.
    let store = crate::common::s(&env.path("store"));
    let out2 = crate::common::s(&env.path("out-again"));
    let c = crate::common::s(&config);
    let text = env.ok(&[
        "plan",
        "--config",
        &c,
        "--store",
        &store,
        "--now",
        now(),
        "--out",
        &out2,
    ]);
    assert!(
        text.contains("outside the collected scope") && text.contains(PARTNER),
        "{text}"
    );
    assert!(text.contains("Unparsable ECR image references"), "{text}");
}

#[test]
fn an_organization_grant_is_covered_when_the_whole_organization_is_collected() {
    let Some(env) = Env::start(None) else { return };
    let config = env.config(
        "ecrgc.toml",
        &CONFIG
            .replace(
                "accounts = [\"111111111111\", \"222222222222\", \"333333333333\"]",
                "discover = \"organizations\"",
            )
            .replace(
                "registry_accounts = [\"111111111111\", \"222222222222\"]\n",
                "",
            ),
    );
    env.collect_and_plan(&config, "store", "out");
    let wrong = mismatches(&env, &env.path("out"), |key, e| {
        if key.2 == "scope/org-wide" {
            "delete".to_owned()
        } else {
            e.to_owned()
        }
    });
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The partner is still outside: the organization does not hold it.
    let who = summary(&env, "out")["out_of_scope"].to_string();
    assert!(
        who.contains(PARTNER) && !who.contains("any account of"),
        "{who}"
    );
}

#[test]
fn an_account_missing_from_the_next_run_stays_a_blocker_for_the_history_window() {
    let Some(env) = Env::start(None) else { return };
    // Yesterday the partner was collected too; today it is not.
    let wider = env.config(
        "wider.toml",
        &CONFIG.replace(
            "\"333333333333\"]\nregions",
            &format!("\"333333333333\", \"{PARTNER}\"]\nregions"),
        ),
    );
    let config = env.config("ecrgc.toml", CONFIG);
    let store = s(&env.path("store"));
    env.ok(&[
        "collect",
        "--config",
        &s(&wider),
        "--store",
        &store,
        "--now",
        &at(-24),
    ]);
    env.collect_and_plan(&config, "store", "out");
    let summary = summary(&env, "out");
    assert_eq!(
        summary["vanished_accounts"],
        serde_json::json!([PARTNER]),
        "{summary}"
    );
    // Repositories it could pull, explicitly or through the organization grant, are blocked
    // with the reason named; refs-unused, which it never could, would still be deleted
    // (its repository is not opted in).
    let partner = decision_line(&env, "out", "partner-old");
    assert!(
        partner.contains(&format!("{PARTNER} (collected in an earlier run")),
        "{partner}"
    );
    let unused = decision_line(&env, "out", "refs-unused");
    assert!(unused.contains("not_opted_in"), "{unused}");
}

#[test]
fn a_registry_account_outside_the_collected_accounts_is_refused() {
    let Some(env) = Env::start(None) else { return };
    let store = env.path("store");
    // Listed accounts: the config check refuses it.
    let listed = env.config(
        "listed.toml",
        &CONFIG.replace(
            "registry_accounts = [\"111111111111\", \"222222222222\"]",
            &format!("registry_accounts = [\"111111111111\", \"{PARTNER}\"]"),
        ),
    );
    // Discovery: `collect` refuses it once the organization is listed.
    let discovered = env.config(
        "discovered.toml",
        &CONFIG
            .replace(
                "accounts = [\"111111111111\", \"222222222222\", \"333333333333\"]",
                "discover = \"organizations\"",
            )
            .replace(
                "registry_accounts = [\"111111111111\", \"222222222222\"]",
                &format!("registry_accounts = [\"{PARTNER}\"]"),
            ),
    );
    for config in [&listed, &discovered] {
        let o = env.ecrgc(&[
            "collect",
            "--config",
            &s(config),
            "--store",
            &s(&store),
            "--now",
            now(),
        ]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("org.registry_accounts") && stderr.contains(PARTNER),
            "{stderr}"
        );
        let written = std::fs::read_dir(&store)
            .map(|d| d.count())
            .unwrap_or_default();
        assert_eq!(written, 0, "nothing is written");
    }
}
