//! The EKS clusters of one account and region: ListClusters (botocore: `nextToken`,
//! `maxResults` up to 100), DescribeCluster for each (`endpoint`,
//! `certificateAuthority.data`: the base64 of the cluster CA's PEM, `status`), then the
//! cluster's API with an EKS token of the account's session (see [`super::token`]).
//!
//! A cluster deleted between the two calls (`ResourceNotFoundException`) is skipped. A
//! cluster still `CREATING` without an endpoint runs nothing yet and is skipped too; any
//! other cluster without an endpoint or a readable CA is a partial failure. A cluster whose
//! endpoint is private (no public access) is unreachable from outside its VPC: its listings
//! fail to connect, which is a partial failure as well.

use aws_sdk_eks::Client;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ecrgc_aws::Failure;

use super::{Connect, EksCluster, Reading, read_cluster};
use crate::aws::unit::{Api, paginate};

/// Largest page ListClusters answers.
const PAGE: i32 = 100;

/// Reads the EKS references of `api`'s account and region; `config` is the account's
/// session in the region, which signs the clusters' tokens.
pub async fn read(
    api: &Api,
    eks: &Client,
    config: &aws_types::SdkConfig,
) -> Result<Reading, Failure> {
    let mut reading = Reading::default();
    let names = paginate(api, "eks:ListClusters", |token| {
        let call = eks.list_clusters().max_results(PAGE).set_next_token(token);
        async move {
            call.send()
                .await
                .map(|o| (o.clusters().to_vec(), o.next_token().map(str::to_owned)))
        }
    })
    .await?;
    for name in names {
        let described = api
            .call("eks:DescribeCluster", || {
                eks.describe_cluster().name(&name).send()
            })
            .await;
        let out = match described {
            Ok(out) => out,
            Err(f) if f.code.as_deref() == Some("ResourceNotFoundException") => {
                reading
                    .skipped
                    .push(format!("cluster {name}: {}", f.message));
                continue;
            }
            Err(f) => {
                reading.partial.push(f.context(format!("cluster {name}")));
                continue;
            }
        };
        let Some(c) = out.cluster() else {
            reading.partial.push(Failure::other(format!(
                "cluster {name}: DescribeCluster answered no cluster"
            )));
            continue;
        };
        let id = c.arn().unwrap_or(&name).to_owned();
        let status = c
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        let Some(endpoint) = c.endpoint() else {
            if status == "CREATING" {
                reading
                    .skipped
                    .push(format!("cluster {id}: CREATING, no endpoint yet"));
            } else {
                reading.partial.push(Failure::other(format!(
                    "cluster {id}: no endpoint (status {status})"
                )));
            }
            continue;
        };
        let connect = match connection(config, &api.region, &name, endpoint, c) {
            Ok(connect) => connect,
            Err(f) => {
                reading.partial.push(f.context(format!("cluster {id}")));
                continue;
            }
        };
        read_cluster(api, &id, &connect, &mut reading).await;
    }
    Ok(reading)
}

fn connection(
    config: &aws_types::SdkConfig,
    region: &str,
    name: &str,
    endpoint: &str,
    c: &aws_sdk_eks::types::Cluster,
) -> Result<Connect, Failure> {
    let endpoint: http::Uri = endpoint
        .parse()
        .map_err(|e| Failure::other(format!("endpoint {endpoint}: {e}")))?;
    let data = c
        .certificate_authority()
        .and_then(|a| a.data())
        .ok_or_else(|| Failure::other("no certificateAuthority.data"))?;
    let pem = STANDARD
        .decode(data.trim())
        .map_err(|e| Failure::other(format!("certificateAuthority.data is not base64: {e}")))?;
    let certificates = pem_certificates(&String::from_utf8_lossy(&pem))?;
    Ok(Connect::Eks(Box::new(EksCluster {
        config: config.clone(),
        region: region.to_owned(),
        name: name.to_owned(),
        endpoint,
        certificates,
    })))
}

/// The DER bytes of every certificate of a PEM text.
fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, Failure> {
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        match (line, &mut body) {
            ("-----BEGIN CERTIFICATE-----", None) => body = Some(String::new()),
            ("-----END CERTIFICATE-----", Some(b)) => {
                let der = STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| Failure::other(format!("the cluster CA is not PEM: {e}")))?;
                out.push(der);
                body = None;
            }
            (l, Some(b)) => b.push_str(l),
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(Failure::other("the cluster CA holds no PEM certificate"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_bundle_gives_each_certificate() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n\
                   -----BEGIN CERTIFICATE-----\nBAU=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            pem_certificates(pem).expect("pem"),
            vec![vec![0, 1, 2, 3], vec![4, 5]]
        );
        assert!(pem_certificates("not a certificate").is_err());
    }
}
