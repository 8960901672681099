//! The documented Graph enums that Gatehouse reads, writes and translates.
//!
//! Graph serialises enums as camelCase strings. Some export shapes send other spellings: the
//! diagnostic export and Log Analytics send Conditional Access conditions as integer bitmasks,
//! provisioning step types and results as integers, and `userType` capitalised. The functions here
//! translate those to the Graph spelling, so every shape lands in the store the same way.

/// Declares a Graph enum with its wire names.
macro_rules! graph_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $(#[doc = $wire] $variant),+ }

        impl $name {
            /// Every member, in Graph's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The Graph wire name.
            pub fn graph_name(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// Parses a wire name, ignoring ASCII case.
            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.graph_name().eq_ignore_ascii_case(s))
            }
        }
    };
}

graph_enum!(
    /// `riskLevel`.
    RiskLevel { None => "none", Low => "low", Medium => "medium", High => "high", Hidden => "hidden", UnknownFutureValue => "unknownFutureValue" }
);
graph_enum!(
    /// `riskState`.
    RiskState { None => "none", ConfirmedSafe => "confirmedSafe", Remediated => "remediated", Dismissed => "dismissed", AtRisk => "atRisk", ConfirmedCompromised => "confirmedCompromised", UnknownFutureValue => "unknownFutureValue" }
);
graph_enum!(
    /// `conditionalAccessStatus`.
    ConditionalAccessStatus { Success => "success", Failure => "failure", NotApplied => "notApplied", UnknownFutureValue => "unknownFutureValue" }
);
graph_enum!(
    /// `signInUserType`.
    SignInUserType { Member => "member", Guest => "guest", UnknownFutureValue => "unknownFutureValue" }
);
graph_enum!(
    /// `operationResult` of a directory audit.
    OperationResult { Success => "success", Failure => "failure", Timeout => "timeout", UnknownFutureValue => "unknownFutureValue" }
);
graph_enum!(
    /// `provisioningResult`.
    ProvisioningResult { Success => "success", Warning => "warning", Failure => "failure", Skipped => "skipped", UnknownFutureValue => "unknownFutureValue" }
);
graph_enum!(
    /// `provisioningStepType`.
    ProvisioningStepType { Import => "import", Scoping => "scoping", Matching => "matching", Processing => "processing", ReferenceResolution => "referenceResolution", Export => "export", UnknownFutureValue => "unknownFutureValue" }
);
graph_enum!(
    /// `provisioningAction`.
    ProvisioningAction { Create => "create", Update => "update", Delete => "delete", StagedDelete => "stagedDelete", Disable => "disable", Other => "other", UnknownFutureValue => "unknownFutureValue" }
);
graph_enum!(
    /// `tokenIssuerType` (PascalCase on the wire).
    TokenIssuerType { AzureAd => "AzureAD", AdFederationServices => "ADFederationServices", UnknownFutureValue => "UnknownFutureValue", AzureAdBackupAuth => "AzureADBackupAuth", AdFederationServicesMfaAdapter => "ADFederationServicesMFAAdapter", NpsExtension => "NPSExtension" }
);
graph_enum!(
    /// `msiType` of a managed identity sign-in.
    MsiType { None => "none", UserAssigned => "userAssigned", SystemAssigned => "systemAssigned", UnknownFutureValue => "unknownFutureValue" }
);
graph_enum!(
    /// `clientCredentialType`.
    ClientCredentialType { None => "none", ClientSecret => "clientSecret", ClientAssertion => "clientAssertion", FederatedIdentityCredential => "federatedIdentityCredential", ManagedIdentity => "managedIdentity", Certificate => "certificate", UnknownFutureValue => "unknownFutureValue" }
);

/// Members of the `conditionalAccessConditions` flags enum, in bit order (bit *i* = member *i+1*;
/// `none` is 0). The bit values are those the diagnostic export uses.
pub const CONDITIONAL_ACCESS_CONDITIONS: &[&str] = &[
    "application",
    "users",
    "devicePlatform",
    "location",
    "clientType",
    "signInRisk",
    "userRisk",
    "time",
    "deviceState",
    "client",
    "ipAddressSeenByAzureAD",
    "ipAddressSeenByResourceProvider",
    "unknownFutureValue",
    "servicePrincipals",
    "servicePrincipalRisk",
    "authenticationFlows",
    "insiderRisk",
];

/// Translates a `conditionalAccessConditions` bitmask (diagnostic export, Log Analytics) to Graph's
/// comma-joined flags string (`"application,users"`, `"none"`). Bits without a known member are kept
/// as `bitN` so nothing is lost.
pub fn conditions_from_bits(bits: u64) -> String {
    let mut out = String::new();
    write_conditions(bits, &mut out);
    out
}

/// [`conditions_from_bits`] appended to `out` (no allocation beyond `out`'s growth).
pub fn write_conditions(bits: u64, out: &mut String) {
    if bits == 0 {
        out.push_str("none");
        return;
    }
    let mut first = true;
    for i in 0..64 {
        if bits & (1 << i) != 0 {
            if !first {
                out.push(',');
            }
            first = false;
            match CONDITIONAL_ACCESS_CONDITIONS.get(i) {
                Some(name) => out.push_str(name),
                None => {
                    use std::fmt::Write;
                    let _ = write!(out, "bit{i}");
                }
            }
        }
    }
}

/// The inverse of [`conditions_from_bits`]; `None` when a member is unknown.
pub fn conditions_to_bits(flags: &str) -> Option<u64> {
    let mut bits = 0u64;
    for name in flags.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name == "none" {
            continue;
        }
        if let Some(i) = CONDITIONAL_ACCESS_CONDITIONS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(name))
        {
            bits |= 1 << i;
        } else if let Some(i) = name.strip_prefix("bit").and_then(|n| n.parse::<u32>().ok()) {
            bits |= 1u64.checked_shl(i)?;
        } else {
            return None;
        }
    }
    Some(bits)
}

/// The provisioning step type for the integer the diagnostic export sends.
pub fn provisioning_step_type_from_int(n: i64) -> Option<&'static str> {
    usize::try_from(n)
        .ok()
        .and_then(|i| ProvisioningStepType::ALL.get(i))
        .filter(|t| **t != ProvisioningStepType::UnknownFutureValue)
        .map(|t| t.graph_name())
}

/// The provisioning result for the integer the diagnostic export sends (0 success, 1 failure,
/// 2 skipped, 3 warning).
pub fn provisioning_result_from_int(n: i64) -> Option<&'static str> {
    match n {
        0 => Some("success"),
        1 => Some("failure"),
        2 => Some("skipped"),
        3 => Some("warning"),
        _ => None,
    }
}

/// AADSTS error codes whose sign-in the Entra portal and Sentinel content treat as successful or an
/// expected interrupt rather than a failure (KMSI prompt, password-reset registration, sign-in
/// frequency re-authentication).
pub const SUCCESS_LIKE_ERROR_CODES: &[i32] = &[0, 50125, 50140, 70043, 70044];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmask_round_trip() {
        assert_eq!(conditions_from_bits(0), "none");
        assert_eq!(
            conditions_from_bits(1035),
            "application,users,location,ipAddressSeenByAzureAD"
        );
        assert_eq!(
            conditions_from_bits(23),
            "application,users,devicePlatform,clientType"
        );
        for bits in [0u64, 1, 23, 263, 1035, 8192 + 16384, 1 << 40] {
            assert_eq!(conditions_to_bits(&conditions_from_bits(bits)), Some(bits));
        }
        assert_eq!(conditions_to_bits("application,nonsense"), None);
    }

    #[test]
    fn provisioning_ints() {
        assert_eq!(provisioning_step_type_from_int(0), Some("import"));
        assert_eq!(provisioning_step_type_from_int(5), Some("export"));
        assert_eq!(provisioning_step_type_from_int(9), None);
        assert_eq!(provisioning_result_from_int(2), Some("skipped"));
    }

    #[test]
    fn parse_ignores_case() {
        assert_eq!(
            SignInUserType::parse("Member"),
            Some(SignInUserType::Member)
        );
        assert_eq!(
            TokenIssuerType::parse("azuread"),
            Some(TokenIssuerType::AzureAd)
        );
        assert_eq!(RiskLevel::parse("extreme"), None);
    }
}
