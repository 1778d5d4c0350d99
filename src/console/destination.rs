//! Where the console opens: a console URL of the credentials' partition, or a service name
//! (`s3`, `ec2`, …) that becomes that service's console in the region.

/// An AWS partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// `aws`.
    Aws,
    /// `aws-cn`.
    China,
    /// `aws-us-gov`.
    GovCloud,
}

impl Partition {
    /// The partition a region belongs to.
    pub fn of_region(region: &str) -> Self {
        if region.starts_with("cn-") {
            Self::China
        } else if region.starts_with("us-gov-") {
            Self::GovCloud
        } else {
            Self::Aws
        }
    }

    /// The sign-in host.
    pub fn signin_host(self) -> &'static str {
        match self {
            Self::Aws => "signin.aws.amazon.com",
            Self::China => "signin.amazonaws.cn",
            Self::GovCloud => "signin.amazonaws-us-gov.com",
        }
    }

    /// The console host.
    pub fn console_host(self) -> &'static str {
        match self {
            Self::Aws => "console.aws.amazon.com",
            Self::China => "console.amazonaws.cn",
            Self::GovCloud => "console.amazonaws-us-gov.com",
        }
    }
}

/// Services `--destination` may name (their console paths are the service names).
const SERVICES: &[&str] = &[
    "acm",
    "apigateway",
    "athena",
    "backup",
    "billing",
    "cloudformation",
    "cloudfront",
    "cloudtrail",
    "cloudwatch",
    "codebuild",
    "codecommit",
    "codepipeline",
    "cognito",
    "dynamodbv2",
    "ec2",
    "ecr",
    "ecs",
    "eks",
    "elasticache",
    "events",
    "glue",
    "guardduty",
    "iam",
    "kinesis",
    "kms",
    "lambda",
    "rds",
    "rolesanywhere",
    "route53",
    "s3",
    "secretsmanager",
    "ses",
    "sns",
    "sqs",
    "ssm",
    "states",
    "vpc",
];

/// `--destination` is neither a console URL nor a known service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--destination '{0}' is not a console URL of this partition (https://…{1}/…) or a known service (e.g. s3, ec2, iam, lambda)")]
pub struct DestinationError(pub String, pub &'static str);

/// The console URL for `destination` (`None`: the console home of `region`).
pub fn console_destination(
    destination: Option<&str>,
    region: &str,
    partition: Partition,
) -> Result<String, DestinationError> {
    let host = partition.console_host();
    let Some(destination) = destination else {
        return Ok(format!("https://{host}/console/home?region={region}"));
    };
    if let Some(service) = SERVICES.iter().find(|s| **s == destination) {
        return Ok(format!(
            "https://{region}.{host}/{service}/home?region={region}"
        ));
    }
    let bad = || DestinationError(crate::text::printable(destination, 200), host);
    let uri: http::Uri = destination.parse().map_err(|_| bad())?;
    let ours = uri.scheme_str() == Some("https")
        && uri
            .host()
            .is_some_and(|h| h == host || h.strip_suffix(host).is_some_and(|p| p.ends_with('.')));
    if ours {
        Ok(destination.to_owned())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_follow_the_partition() {
        assert_eq!(
            console_destination(None, "eu-west-1", Partition::Aws).unwrap(),
            "https://console.aws.amazon.com/console/home?region=eu-west-1"
        );
        assert_eq!(
            console_destination(Some("s3"), "cn-north-1", Partition::of_region("cn-north-1"))
                .unwrap(),
            "https://cn-north-1.console.amazonaws.cn/s3/home?region=cn-north-1"
        );
        let url = "https://us-east-1.console.aws.amazon.com/ec2/home";
        assert_eq!(
            console_destination(Some(url), "us-east-1", Partition::Aws).unwrap(),
            url
        );
        assert_eq!(
            Partition::of_region("us-gov-west-1").signin_host(),
            "signin.amazonaws-us-gov.com"
        );
    }

    #[test]
    fn other_hosts_and_unknown_services_are_refused() {
        for bad in [
            "https://evil.example/console",
            "http://console.aws.amazon.com/",
            "https://notconsole.aws.amazon.com/",
            "bogus-service",
            "https://console.amazonaws.cn/",
        ] {
            assert!(
                console_destination(Some(bad), "us-east-1", Partition::Aws).is_err(),
                "{bad}"
            );
        }
    }
}
