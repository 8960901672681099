//! The AADSTS error codes found in sign-in logs: what each means, whether it is a failure or an
//! expected interruption of the flow, and what an admin should do.
//!
//! The catalogue covers every code in Gatehouse's reference on Entra log formats (Microsoft's
//! AADSTS list, classes after the codes' names and semantics). Microsoft publishes no
//! authoritative list of interrupts: the codes classed [`ErrorClass::Interrupt`] are those whose
//! names or documented behaviour say the flow continues (MFA still to do, "Keep me signed in",
//! a silent request that needs a prompt). A code not in the catalogue is reported as unknown,
//! never guessed.

use serde::Serialize;

/// What kind of outcome an error code stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorClass {
    /// `0`: the sign-in succeeded.
    Success,
    /// An expected step of the flow (MFA to do, a prompt): the portal shows "Interrupted".
    Interrupt,
    /// The credentials or the account (bad password, locked, disabled, unknown user).
    Credential,
    /// A policy blocked it (Conditional Access, MFA denied, assignment, tenant restrictions).
    Policy,
    /// The application's configuration or the protocol (secret expired, reply URL, scope).
    Application,
    /// A token or session expired or was revoked.
    Token,
    /// Not in the catalogue.
    Unknown,
}

impl ErrorClass {
    /// The outcome a sign-in with a code of this class had.
    pub fn outcome(self) -> Outcome {
        match self {
            ErrorClass::Success => Outcome::Success,
            ErrorClass::Interrupt => Outcome::Interrupted,
            _ => Outcome::Failure,
        }
    }
}

/// A sign-in's outcome as the Entra portal's Status column shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// `errorCode` 0.
    Success,
    /// An expected interruption ([`ErrorClass::Interrupt`]).
    Interrupted,
    /// Any other code.
    Failure,
}

/// One catalogued code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorCode {
    /// The AADSTS number (`status.errorCode`).
    pub code: i32,
    /// Its name in Microsoft's list (`InvalidUserNameOrPassword`).
    pub name: &'static str,
    /// What it means, in a sentence.
    pub meaning: &'static str,
    /// Failure, interruption or success.
    pub class: ErrorClass,
    /// What an admin should do about it.
    pub action: &'static str,
}

impl ErrorCode {
    /// The outcome of a sign-in with this code.
    pub fn outcome(&self) -> Outcome {
        self.class.outcome()
    }
}

use ErrorClass::{
    Application as App, Credential as Cred, Interrupt as Int, Policy as Pol, Token as Tok,
};

const CHECK_CREDS: &str = "Expected in small numbers (typing mistakes). Many of them for one account, or across accounts from one IP, point to password guessing or spray: check the IP addresses and the accounts' later successes.";
const CHECK_ACCOUNT: &str =
    "Check the account's state in the directory and whether the person should still have access.";
const NONE_NEEDED: &str =
    "Nothing, unless the user never completes the next step: the flow continues after it.";
const CHECK_CA: &str = "Open the sign-in's Conditional Access details to see which policy decided and why; change the policy or the user's device or location if the block is unwanted.";
const CHECK_APP: &str = "Fix the application's registration or configuration (its owner's job); the user cannot fix this.";
const REAUTH: &str = "The user signs in again; nothing to do unless it repeats for many users (a revoked session, a changed password or a sign-in frequency policy explains it).";

macro_rules! code {
    ($code:expr, $name:expr, $meaning:expr, $class:expr, $action:expr) => {
        ErrorCode {
            code: $code,
            name: $name,
            meaning: $meaning,
            class: $class,
            action: $action,
        }
    };
}

/// Every catalogued code, in ascending order of code (a binary search finds one).
pub const CATALOGUE: &[ErrorCode] = &[
    code!(0, "Success", "The sign-in succeeded.", ErrorClass::Success, "Nothing."),
    code!(16000, "InteractionRequired", "The request needs the user to interact (pick an account or sign in); a silent request cannot continue.", Int, NONE_NEEDED),
    code!(16001, "UserAccountSelectionInvalid", "The user picked an account the session does not hold; the client asks again.", Int, NONE_NEEDED),
    code!(50001, "InvalidResource", "The resource the app asked for is disabled or does not exist in the tenant.", App, CHECK_APP),
    code!(50005, "DevicePolicyError", "The user signed in from a platform a Conditional Access device policy does not support.", Pol, CHECK_CA),
    code!(50011, "InvalidReplyTo", "The reply URL in the request does not match one registered for the application.", App, CHECK_APP),
    code!(50020, "UserUnauthorized", "The user comes from an identity provider that is not part of the tenant (a guest must be invited first).", Cred, "Invite the user as a guest (B2B) or have them use an account of this tenant."),
    code!(50034, "UserAccountNotFound", "The account does not exist in the directory.", Cred, "Usually a mistyped name. Many of them from one IP address point to account enumeration: check that IP."),
    code!(50053, "IdsLocked", "The account is locked after too many bad passwords (smart lockout), or the sign-in came from an IP address Microsoft knows as malicious.", Cred, "Check the IP addresses of the failed attempts before it: a lockout from unfamiliar IPs is an attack on the account, not the user's mistake."),
    code!(50055, "InvalidPasswordExpiredPassword", "The password has expired; the user is offered a reset.", Cred, "The user changes the password; check the password expiry policy if many users meet this."),
    code!(50056, "InvalidOrNullPassword", "The password is invalid or the account has no password in the directory.", Cred, CHECK_ACCOUNT),
    code!(50057, "UserDisabled", "The account is disabled.", Cred, "Someone is still trying a disabled account: confirm it was disabled on purpose and find which device or app keeps trying."),
    code!(50058, "UserInformationNotProvided", "A silent sign-in found no session (no cookie); the client must prompt.", Int, NONE_NEEDED),
    code!(50064, "CredentialAuthenticationError", "The credentials could not be validated.", Cred, CHECK_CREDS),
    code!(50072, "UserStrongAuthEnrollmentRequiredInterrupt", "The user must register for multifactor authentication before continuing.", Int, "Nothing, unless registration never completes: then help the user register."),
    code!(50074, "UserStrongAuthClientAuthNRequiredInterrupt", "Strong authentication is required and has not been done yet; the user is asked for MFA.", Int, NONE_NEEDED),
    code!(50076, "UserStrongAuthClientAuthNRequired", "A policy (Conditional Access, per-user MFA or the location) requires multifactor authentication; the user is asked for it.", Int, NONE_NEEDED),
    code!(50079, "UserStrongAuthEnrollmentRequired", "The user must register for multifactor authentication.", Int, "Nothing, unless registration never completes: then help the user register."),
    code!(50088, "TelecomMfaLimitReached", "The limit of MFA phone calls or text messages for the user was reached.", Pol, "Have the user switch to the Authenticator app; many of them suggest someone triggering MFA repeatedly."),
    code!(50089, "FlowTokenExpired", "The sign-in took too long and its flow token expired.", Tok, REAUTH),
    code!(50097, "DeviceAuthenticationRequired", "The device must authenticate; the flow continues once it has.", Int, NONE_NEEDED),
    code!(50105, "EntitlementGrantsNotFound", "The user is not assigned to the application, which requires assignment.", Pol, "Assign the user (or a group of theirs) to the application if they should use it."),
    code!(50125, "PasswordResetRegistrationRequiredInterrupt", "The user is asked to register for self-service password reset; the sign-in continues.", Int, NONE_NEEDED),
    code!(50126, "InvalidUserNameOrPassword", "The username or password is wrong.", Cred, CHECK_CREDS),
    code!(50131, "ConditionalAccessFailed", "A Conditional Access condition failed (device state, location or another requirement).", Pol, CHECK_CA),
    code!(50132, "SsoArtifactInvalidOrExpired", "The session is no longer valid: the password changed or the session was revoked.", Tok, REAUTH),
    code!(50133, "SsoArtifactRevoked", "The session was revoked (password change or admin action).", Tok, REAUTH),
    code!(50140, "KmsiInterrupt", "The user was asked \"Stay signed in?\"; the sign-in continues.", Int, NONE_NEEDED),
    code!(50144, "InvalidPasswordExpiredOnPremPassword", "The on-premises password has expired.", Cred, "The user changes the password on premises (or through writeback)."),
    code!(50155, "DeviceAuthenticationFailed", "The device failed to authenticate (its certificate or registration is not valid).", Tok, "Check the device's registration in the directory; re-register it if it was deleted or disabled."),
    code!(50158, "ExternalSecurityChallenge", "An external security challenge (a third-party MFA provider or control) was not satisfied yet.", Int, NONE_NEEDED),
    code!(50173, "FreshTokenNeeded", "The grant was revoked (a password change or an admin reset); a fresh sign-in is needed.", Tok, REAUTH),
    code!(50194, "InvalidMultiTenantRequest", "The application is not multi-tenant and was reached through /common or another tenant.", App, CHECK_APP),
    code!(50196, "LoopDetected", "The client repeated the same request many times in a short time.", App, "Find the client (application and device) that loops; it is usually a misbehaving app, not a person."),
    code!(50199, "CmsiInterrupt", "The user was asked to confirm the redirect to the application; the sign-in continues.", Int, NONE_NEEDED),
    code!(53000, "DeviceNotCompliant", "Conditional Access requires a compliant device and this device is not.", Pol, "Check the device's compliance in Intune, or the policy if the device should be allowed."),
    code!(53001, "DeviceNotDomainJoined", "Conditional Access requires a domain-joined device and this device is not.", Pol, CHECK_CA),
    code!(53002, "ApplicationUsedIsNotAnApprovedApp", "Conditional Access requires an approved client app and this one is not.", Pol, "Have the user use an approved app (e.g. Outlook mobile) or change the policy."),
    code!(53003, "BlockedByConditionalAccess", "A Conditional Access policy blocked the sign-in.", Pol, CHECK_CA),
    code!(53004, "ProofUpBlockedDueToRisk", "MFA registration was blocked because the sign-in was risky.", Pol, "Investigate the sign-in's risk; an admin must help the user register from a safe location."),
    code!(54005, "OAuth2AuthorizationCodeAlreadyRedeemed", "The authorization code was already used.", App, CHECK_APP),
    code!(65001, "DelegationDoesNotExist", "The user or an admin has not consented to the application's permissions.", App, "Grant consent to the application (or let the user consent) if it should have access."),
    code!(65005, "MisconfiguredApplication", "The application asks for permissions it does not list, or the resource is misconfigured.", App, CHECK_APP),
    code!(70008, "ExpiredOrRevokedGrant", "The refresh token expired through inactivity or was revoked.", Tok, REAUTH),
    code!(70011, "InvalidScope", "The scope the application asked for is invalid.", App, CHECK_APP),
    code!(70043, "BadTokenDueToSignInFrequency", "The refresh token expired because of a Conditional Access sign-in frequency policy.", Tok, REAUTH),
    code!(70044, "SessionExpiredDueToSignInFrequency", "The session expired because of a sign-in frequency policy.", Tok, REAUTH),
    code!(80012, "OnPremisePasswordValidationAccountLogonInvalidHours", "Pass-through authentication: the user signed in outside the hours the account allows.", Cred, "Check the account's logon hours on premises."),
    code!(80014, "OnPremisePasswordValidationTimeSkew", "Pass-through authentication: the agent timed out validating the password.", App, "Check the pass-through authentication agents' health and their connectivity to the domain controllers."),
    code!(81010, "DesktopSsoAuthTokenInvalid", "Seamless SSO failed: the Kerberos ticket is expired or invalid.", Tok, "Check the device's clock and the Seamless SSO computer account's key (roll it over if old)."),
    code!(81012, "DesktopSsoUserPrincipalNameMismatch", "Seamless SSO failed: the user signing in is not the one signed in to the device.", Tok, REAUTH),
    code!(90002, "InvalidTenantName", "The tenant named in the request was not found.", App, CHECK_APP),
    code!(90072, "PassThroughUserMfaError", "The external account the user signed in with does not exist in the tenant.", Cred, "Invite the user as a guest, or have them sign in with an account of this tenant."),
    code!(90094, "AdminConsentRequired", "The application needs an administrator's consent.", App, "Review the permissions; grant admin consent if the application should have them."),
    code!(90095, "AdminConsentRequiredRequestAccess", "The application needs an administrator's consent; the user can ask for it.", App, "Review the request in the admin consent workflow."),
    code!(500011, "InvalidResourceServicePrincipalNotFound", "The resource's service principal was not found in the tenant.", App, CHECK_APP),
    code!(500021, "TenantRestrictionsDenied", "Tenant restrictions on the network blocked access to this tenant.", Pol, "Expected if the network's tenant restrictions are meant to block it; otherwise update the allowed tenants."),
    code!(500022, "TenantRestrictionsV2Denied", "A tenant restrictions policy blocked access.", Pol, "Check the tenant restrictions (v2) policy."),
    code!(500121, "StrongAuthenticationFailed", "Multifactor authentication failed: the user denied or did not answer the prompt, or entered a wrong code.", Pol, "A few are normal. Repeated denials followed by an approval suggest MFA fatigue: ask the user whether they were signing in."),
    code!(500212, "CrossTenantOutboundAccessBlocked", "The home tenant's cross-tenant access policy blocks this outbound access.", Pol, "Check the cross-tenant access settings (outbound) if the access is wanted."),
    code!(500213, "CrossTenantInboundAccessBlocked", "The resource tenant's cross-tenant access policy blocks this inbound access.", Pol, "Check the cross-tenant access settings (inbound) if the access is wanted."),
    code!(530032, "BlockedByConditionalAccessOnSecurityPolicy", "A security policy of the tenant (Conditional Access on security info registration) blocked it.", Pol, CHECK_CA),
    code!(530035, "BlockedBySecurityDefaults", "Security defaults blocked the sign-in (legacy authentication or a required MFA).", Pol, "Expected for legacy clients: move them to modern authentication."),
    code!(650056, "MisconfiguredApplicationPermissions", "The application's permissions do not list what it asked for, or consent is missing.", App, CHECK_APP),
    code!(650057, "InvalidResourceNotInPermissions", "The resource is not in the permissions the application requested.", App, CHECK_APP),
    code!(700016, "UnauthorizedClient_DoesNotMatchRequest", "The application was not found in the tenant (wrong tenant, or it was not installed).", App, CHECK_APP),
    code!(700027, "InvalidClientAssertionSignature", "The client assertion's signature failed validation (an unknown or wrong certificate).", App, "Check the application's certificate credentials; an unknown key may mean a forged assertion."),
    code!(700082, "ExpiredOrRevokedGrantInactiveToken", "The refresh token expired because it was not used for too long.", Tok, REAUTH),
    code!(7000215, "InvalidClientSecretProvided", "The client secret is wrong.", App, "Check the secret the application uses; repeated failures from unknown IPs may be someone guessing it."),
    code!(7000222, "InvalidClientSecretExpiredKeysProvided", "The client secret has expired.", App, "Create a new secret for the application and update where it is used."),
];

/// The catalogue's entry for `code`, if it has one.
pub fn lookup(code: i32) -> Option<&'static ErrorCode> {
    CATALOGUE
        .binary_search_by_key(&code, |c| c.code)
        .ok()
        .map(|i| &CATALOGUE[i])
}

/// The outcome of a sign-in with `code`: success for 0, interrupted for catalogued interrupts,
/// failure otherwise (unknown codes included).
pub fn outcome(code: i32) -> Outcome {
    lookup(code).map_or(Outcome::Failure, ErrorCode::outcome)
}

/// The codes of [`ErrorClass::Interrupt`], ascending.
pub fn interrupt_codes() -> Vec<i32> {
    CATALOGUE
        .iter()
        .filter(|c| c.class == ErrorClass::Interrupt)
        .map(|c| c.code)
        .collect()
}

/// A description of `code` for reports: the catalogue's, or "unknown code" said plainly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeDescription {
    /// The code.
    pub code: i32,
    /// Its name (`null` when unknown).
    pub name: Option<&'static str>,
    /// Its meaning, or "Unknown code: not in Gatehouse's catalogue".
    pub meaning: String,
    /// Its class.
    pub class: ErrorClass,
    /// What to do (`null` when unknown).
    pub action: Option<&'static str>,
}

/// Describes `code` (catalogued or not).
pub fn describe(code: i32) -> CodeDescription {
    match lookup(code) {
        Some(c) => CodeDescription {
            code,
            name: Some(c.name),
            meaning: c.meaning.to_string(),
            class: c.class,
            action: Some(c.action),
        },
        None => CodeDescription {
            code,
            name: None,
            meaning: format!(
                "Unknown code {code}: not in Gatehouse's catalogue (look it up as AADSTS{code})."
            ),
            class: ErrorClass::Unknown,
            action: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_sorted_without_repeats_so_lookups_find_every_code() {
        for pair in CATALOGUE.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} then {}",
                pair[0].code,
                pair[1].code
            );
        }
        for c in CATALOGUE {
            assert_eq!(lookup(c.code).map(|f| f.code), Some(c.code));
        }
    }

    /// Every code of the reference's table (section 8 of entra-log-formats.md), copied here by
    /// hand, is catalogued with the reference's class.
    #[test]
    fn every_code_of_the_reference_is_catalogued_with_its_class() {
        let reference: &[(&[i32], ErrorClass)] = &[
            (&[0], ErrorClass::Success),
            (
                &[
                    50126, 50053, 50055, 50056, 50057, 50034, 50020, 50144, 50064, 90072, 80012,
                ],
                Cred,
            ),
            (
                &[
                    50074, 50076, 50079, 50072, 50125, 50140, 50158, 50199, 50097, 50058, 16000,
                    16001,
                ],
                Int,
            ),
            (
                &[
                    500121, 50088, 53003, 53000, 53001, 53002, 53004, 530032, 530035, 50131, 50105,
                    50005, 500212, 500213, 500021, 500022,
                ],
                Pol,
            ),
            (
                &[
                    70043, 70044, 50089, 50173, 50132, 50133, 70008, 700082, 50155, 81010, 81012,
                ],
                Tok,
            ),
            (
                &[
                    700016, 7000215, 7000222, 700027, 50011, 50001, 500011, 65005, 650056, 650057,
                    70011, 90002, 50194, 54005, 80014, 50196, 65001, 90094, 90095,
                ],
                App,
            ),
        ];
        for (codes, class) in reference {
            for code in *codes {
                let c = lookup(*code).unwrap_or_else(|| panic!("{code} is not catalogued"));
                assert_eq!(c.class, *class, "{code}");
                assert!(!c.meaning.is_empty() && !c.action.is_empty(), "{code}");
            }
        }
    }

    #[test]
    fn outcomes_follow_the_portal_status() {
        assert_eq!(outcome(0), Outcome::Success);
        assert_eq!(outcome(50074), Outcome::Interrupted);
        assert_eq!(outcome(50140), Outcome::Interrupted);
        assert_eq!(outcome(50126), Outcome::Failure);
        assert_eq!(outcome(53003), Outcome::Failure);
        // Unknown codes are failures, and said to be unknown.
        assert_eq!(outcome(123_456), Outcome::Failure);
        let d = describe(123_456);
        assert_eq!(d.class, ErrorClass::Unknown);
        assert!(d.meaning.contains("Unknown code 123456"), "{}", d.meaning);
        assert_eq!(describe(50126).name, Some("InvalidUserNameOrPassword"));
        assert!(interrupt_codes().contains(&50076));
        assert!(!interrupt_codes().contains(&50126));
    }
}
