//! Which AWS service and region a host name addresses, for signing. Covers the common shapes:
//! `service.region.amazonaws.com`, global endpoints, FIPS and dual-stack forms, China, S3 path-
//! and virtual-hosted style (and its legacy forms), API Gateway, Lambda function URLs,
//! OpenSearch (managed and serverless) and Managed Prometheus.

use crate::rolesanywhere::model::is_region;

/// What a request is signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningTarget {
    /// SigV4 service name.
    pub service: String,
    /// SigV4 region.
    pub region: String,
}

impl SigningTarget {
    /// S3 is signed with `UNSIGNED-PAYLOAD` (so its bodies stream) and its own URI rules.
    pub fn is_s3(&self) -> bool {
        self.service == "s3"
    }
}

/// DNS suffixes of AWS partitions (longest first).
const SUFFIXES: [&str; 6] = [
    ".amazonaws.com.cn",
    ".api.amazonwebservices.com.cn",
    ".amazonaws.com",
    ".api.aws",
    ".on.aws",
    ".amazonaws.eu",
];

/// Endpoint prefixes whose signing name differs.
fn signing_name(prefix: &str) -> &str {
    match prefix {
        "email" => "ses",
        "runtime.sagemaker" | "api.sagemaker" => "sagemaker",
        "streams.dynamodb" => "dynamodb",
        "data.iot" | "data-ats.iot" => "iotdata",
        "api.ecr" => "ecr",
        "api.pricing" => "pricing",
        "runtime.lex" | "models.lex" => "lex",
        "aps-workspaces" => "aps",
        other => other,
    }
}

fn target(service: &str, region: &str) -> Option<SigningTarget> {
    Some(SigningTarget {
        service: service.to_owned(),
        region: region.to_owned(),
    })
}

/// Derives the signing target from a host (with or without a port).
pub fn derive(host: &str) -> Option<SigningTarget> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_owned(),
        _ => host,
    };
    let suffix = SUFFIXES.iter().find(|s| host.ends_with(*s))?;
    let stem = &host[..host.len() - suffix.len()];
    let labels: Vec<&str> = stem.split('.').collect();

    // Lambda function URLs: <id>.lambda-url.<region>.on.aws
    if *suffix == ".on.aws" {
        return match labels.as_slice() {
            [.., "lambda-url", region] if is_region(region) => target("lambda", region),
            _ => None,
        };
    }
    // S3, in all its shapes: s3.amazonaws.com, s3.<r>, s3-<r>, s3-fips.<r>, s3.dualstack.<r>,
    // <bucket>.s3.<r>…, s3-accesspoint.<r>, <name>-<acct>.s3-accesspoint.<r>.
    if let Some(i) = labels
        .iter()
        .position(|l| *l == "s3" || l.starts_with("s3-"))
    {
        let label = labels[i];
        let region = labels[i + 1..]
            .iter()
            .find(|l| is_region(l))
            .copied()
            .or_else(|| label.strip_prefix("s3-").filter(|r| is_region(r)))
            .unwrap_or("us-east-1");
        if label == "s3" || label.starts_with("s3-") {
            return target("s3", region);
        }
    }
    // OpenSearch: <domain>.<region>.es.amazonaws.com, <id>.<region>.aoss.amazonaws.com
    if let [.., region, service @ ("es" | "aoss")] = labels.as_slice() {
        if is_region(region) {
            return target(service, region);
        }
    }
    // API Gateway: <id>.execute-api.<region>.amazonaws.com
    if let [.., "execute-api", region] = labels.as_slice() {
        if is_region(region) {
            return target("execute-api", region);
        }
    }
    // The generic shape: <prefix>[-fips][.dualstack].<region>, or a global <prefix>.
    match labels.iter().rposition(|l| is_region(l)) {
        Some(r) if r > 0 => {
            let mut prefix_labels: Vec<&str> = labels[..r].to_vec();
            if prefix_labels.last() == Some(&"dualstack") {
                prefix_labels.pop();
            }
            let prefix = prefix_labels.join(".");
            let prefix = prefix.strip_suffix("-fips").unwrap_or(&prefix);
            (!prefix.is_empty()).then(|| SigningTarget {
                service: signing_name(prefix).to_owned(),
                region: labels[r].to_owned(),
            })
        }
        _ => {
            // Global endpoints sign for us-east-1 (iam, sts, route53, cloudfront, …).
            let prefix = stem.strip_suffix("-fips").unwrap_or(stem);
            (!prefix.is_empty() && !prefix.contains('.')).then(|| SigningTarget {
                service: signing_name(prefix).to_owned(),
                region: "us-east-1".to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host, service, region: every endpoint shape derivation knows.
    const ENDPOINTS: &str = "
        sts.amazonaws.com                                       sts          us-east-1
        sts.eu-west-1.amazonaws.com                             sts          eu-west-1
        iam.amazonaws.com                                       iam          us-east-1
        dynamodb.us-west-2.amazonaws.com                        dynamodb     us-west-2
        streams.dynamodb.us-west-2.amazonaws.com                dynamodb     us-west-2
        rds.eu-central-1.amazonaws.com                          rds          eu-central-1
        email.us-east-1.amazonaws.com                           ses          us-east-1
        monitoring.ap-south-1.amazonaws.com                     monitoring   ap-south-1
        runtime.sagemaker.us-east-2.amazonaws.com               sagemaker    us-east-2
        kms-fips.us-gov-west-1.amazonaws.com                    kms          us-gov-west-1
        sts.dualstack.us-east-1.amazonaws.com                   sts          us-east-1
        ec2.us-east-1.api.aws                                   ec2          us-east-1
        sqs.cn-north-1.amazonaws.com.cn                         sqs          cn-north-1
        s3.amazonaws.com                                        s3           us-east-1
        s3.eu-west-1.amazonaws.com                              s3           eu-west-1
        s3-eu-west-1.amazonaws.com                              s3           eu-west-1
        my-bucket.s3.eu-west-1.amazonaws.com                    s3           eu-west-1
        my.dotted.bucket.s3.us-west-2.amazonaws.com             s3           us-west-2
        my-bucket.s3.amazonaws.com                              s3           us-east-1
        s3.dualstack.ap-northeast-1.amazonaws.com               s3           ap-northeast-1
        bucket.s3-fips.dualstack.us-east-1.amazonaws.com        s3           us-east-1
        ap-111122223333.s3-accesspoint.us-west-2.amazonaws.com  s3           us-west-2
        s3.cn-northwest-1.amazonaws.com.cn                      s3           cn-northwest-1
        abc123.execute-api.us-east-1.amazonaws.com              execute-api  us-east-1
        xyz.lambda-url.eu-west-1.on.aws                         lambda       eu-west-1
        search-logs-abc.us-east-1.es.amazonaws.com              es           us-east-1
        vpc-logs-abc.eu-west-1.es.amazonaws.com                 es           eu-west-1
        abc.us-east-1.aoss.amazonaws.com                        aoss         us-east-1
        aps-workspaces.us-west-2.amazonaws.com                  aps          us-west-2
        logs.us-east-1.amazonaws.com:443                        logs         us-east-1
    ";

    #[test]
    fn every_endpoint_shape_maps_to_its_service_and_region() {
        let rows: Vec<Vec<&str>> = ENDPOINTS
            .lines()
            .map(|line| line.split_whitespace().collect())
            .filter(|row: &Vec<&str>| !row.is_empty())
            .collect();
        assert_eq!(rows.len(), 30);
        for row in rows {
            let [host, service, region] = row[..] else {
                panic!("a row is host, service, region: {row:?}");
            };
            assert_eq!(derive(host), target(service, region), "{host}");
        }
    }

    #[test]
    fn non_aws_hosts_have_no_target() {
        for host in [
            "localhost",
            "127.0.0.1:9000",
            "example.com",
            "amazonaws.com",
            ".amazonaws.com",
        ] {
            assert_eq!(derive(host), None, "{host}");
        }
    }
}
