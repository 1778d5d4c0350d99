//! Which profile IMDS serves, if any: `--imds[=PROFILE]`, else the config file's `imds`,
//! checked against the served profiles and the remote-access rules. IMDS cannot authenticate
//! its clients, so it is off unless asked for, and never silently remote.

use std::net::SocketAddr;

use super::ImdsOptions;

/// What was asked for.
#[derive(Debug, Clone, Default)]
pub struct ImdsRequest<'a> {
    /// `--imds` (`Some("")` when given without a profile).
    pub flag: Option<&'a str>,
    /// The config file's `imds`.
    pub config: Option<&'a str>,
    /// `--imds-v1`.
    pub v1: bool,
    /// `--allow-remote`.
    pub allow_remote: bool,
    /// `--insecure-remote-imds`.
    pub insecure_remote: bool,
    /// `--listen`, for the message.
    pub listen: Option<SocketAddr>,
}

/// An IMDS request that cannot be honoured.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImdsChoiceError {
    /// `--imds-v1` without IMDS.
    #[error("--imds-v1 needs IMDS: pass --imds[=PROFILE] as well")]
    V1WithoutImds,
    /// A profile that is not served.
    #[error("IMDS profile {name} is not one of the served profiles ({served})")]
    UnknownProfile {
        /// The profile asked for.
        name: String,
        /// The served ones.
        served: String,
    },
    /// IMDSv1 for remote clients.
    #[error("--imds-v1 cannot be combined with --allow-remote: remote clients must use tokens")]
    RemoteV1,
    /// IMDS for remote clients without the explicit opt-in.
    #[error("IMDS cannot authenticate its clients, so with --allow-remote every host that reaches {listen} would get the credentials of profile {name}; serve ECS with tokens instead, or pass --insecure-remote-imds to accept that")]
    Remote {
        /// The listen address.
        listen: String,
        /// The profile.
        name: String,
    },
}

/// The IMDS options for `request` with `served` profiles (in order), or `None` for no IMDS.
pub fn choose(
    request: &ImdsRequest<'_>,
    served: &[String],
) -> Result<Option<ImdsOptions>, ImdsChoiceError> {
    let chosen = match request.flag {
        Some("") => served.first().cloned(),
        Some(name) => Some(name.to_owned()),
        None => request.config.map(str::to_owned),
    };
    let Some(name) = chosen else {
        return match request.v1 {
            true => Err(ImdsChoiceError::V1WithoutImds),
            false => Ok(None),
        };
    };
    if !served.contains(&name) {
        return Err(ImdsChoiceError::UnknownProfile {
            name,
            served: served.join(", "),
        });
    }
    if request.v1 && request.allow_remote {
        return Err(ImdsChoiceError::RemoteV1);
    }
    if request.allow_remote && !request.insecure_remote {
        let listen = request.listen.map(|l| l.to_string()).unwrap_or_default();
        return Err(ImdsChoiceError::Remote { listen, name });
    }
    Ok(Some(ImdsOptions {
        profile: name,
        v1: request.v1,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The profile and v1 flag chosen, or the refusal.
    type Chosen = Result<Option<(String, bool)>, ImdsChoiceError>;

    fn served() -> Vec<String> {
        vec!["a".to_owned(), "b".to_owned()]
    }

    fn chose(request: ImdsRequest<'_>) -> Chosen {
        choose(&request, &served()).map(|o| o.map(|o| (o.profile, o.v1)))
    }

    #[test]
    fn imds_is_off_unless_asked_for_and_the_flag_beats_the_file() {
        let base = ImdsRequest::default();
        assert_eq!(chose(base.clone()), Ok(None));
        let first = ImdsRequest {
            flag: Some(""),
            ..base.clone()
        };
        assert_eq!(chose(first), Ok(Some(("a".into(), false))));
        let v1 = ImdsRequest {
            flag: Some("b"),
            v1: true,
            ..base.clone()
        };
        assert_eq!(chose(v1), Ok(Some(("b".into(), true))));
        let file = ImdsRequest {
            config: Some("b"),
            ..base.clone()
        };
        assert_eq!(chose(file), Ok(Some(("b".into(), false))));
        let both = ImdsRequest {
            flag: Some("a"),
            config: Some("b"),
            ..base
        };
        assert_eq!(chose(both), Ok(Some(("a".into(), false))));
    }

    #[test]
    fn imds_is_refused_for_unknown_profiles_and_never_silently_remote() {
        let base = ImdsRequest::default();
        let v1 = ImdsRequest {
            v1: true,
            ..base.clone()
        };
        assert_eq!(chose(v1), Err(ImdsChoiceError::V1WithoutImds));
        let unknown = ImdsRequest {
            flag: Some("c"),
            ..base.clone()
        };
        let served = "a, b".into();
        assert_eq!(
            chose(unknown),
            Err(ImdsChoiceError::UnknownProfile {
                name: "c".into(),
                served
            })
        );
        let remote = ImdsRequest {
            flag: Some("a"),
            allow_remote: true,
            ..base.clone()
        };
        let refused = ImdsChoiceError::Remote {
            listen: String::new(),
            name: "a".into(),
        };
        assert_eq!(chose(remote.clone()), Err(refused));
        let accepted = ImdsRequest {
            insecure_remote: true,
            ..remote.clone()
        };
        assert_eq!(chose(accepted.clone()), Ok(Some(("a".into(), false))));
        let remote_v1 = ImdsRequest {
            v1: true,
            ..accepted
        };
        assert_eq!(chose(remote_v1), Err(ImdsChoiceError::RemoteV1));
    }
}
