//! Tokens, roles and tenants: who a request is and what it may see.
//!
//! A token belongs to one tenant and has one role, named after Entra's built-in roles. It is a
//! random string (`gh_<id>_<secret>`: an 8-hex-digit id and 32 random bytes in hex) shown once
//! when created; the data directory keeps only its SHA-256 (`_gatehouse/tokens.json`), compared
//! in constant time. The file is re-read when it changes, so `gatehouse token create` and
//! `revoke` take effect on a running server at its next request.
//!
//! The console signs in with a one-time login link (`gatehouse token login-link`, printed by
//! `gatehouse demo`): its code, kept only as a hash in `_gatehouse/login-codes.json`, is good
//! for ten minutes and one use, and is exchanged for a session token that expires after
//! twelve hours. Downloads from the console use export tickets ([`Tickets`]): single-use,
//! one-minute stand-ins for the token in a link the browser follows, so a download streams to
//! disk instead of being held in the page's memory.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use gatehouse_model::LogKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where the tokens are kept, relative to the data directory.
pub const TOKENS_FILE: &str = "_gatehouse/tokens.json";

/// Where unused one-time login codes are kept (hashed), relative to the data directory.
pub const LOGIN_CODES_FILE: &str = "_gatehouse/login-codes.json";

/// How long a login link can be used.
pub const LOGIN_CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The name of the tokens login links are exchanged for.
pub const SESSION_NAME: &str = "console session (login link)";

/// How long a console session (the token a login link is exchanged for) lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// What a token may do, after Entra's built-in roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Sign-in, audit and provisioning logs (Entra's Reports Reader).
    ReportsReader,
    /// Every log, risk included (Security Reader).
    SecurityReader,
    /// Every log, risk included; risk verdicts later (Security Administrator).
    SecurityAdmin,
    /// Every log (Global Reader).
    GlobalReader,
    /// Pushes records for its tenant; reads nothing.
    Ingest,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::ReportsReader,
        Role::SecurityReader,
        Role::SecurityAdmin,
        Role::GlobalReader,
        Role::Ingest,
    ];

    /// The role's name on the command line and in the tokens file.
    pub fn name(self) -> &'static str {
        match self {
            Role::ReportsReader => "reports-reader",
            Role::SecurityReader => "security-reader",
            Role::SecurityAdmin => "security-admin",
            Role::GlobalReader => "global-reader",
            Role::Ingest => "ingest",
        }
    }

    /// Whether the role may read a log.
    pub fn may_read(self, log: LogKind) -> bool {
        match self {
            Role::Ingest => false,
            Role::ReportsReader => matches!(
                log,
                LogKind::SignIns | LogKind::Audits | LogKind::Provisioning
            ),
            Role::SecurityReader | Role::SecurityAdmin | Role::GlobalReader => true,
        }
    }

    /// Whether the role may push records.
    pub fn may_ingest(self) -> bool {
        self == Role::Ingest
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?}: one of {}",
                    Role::ALL.map(Role::name).join(", ")
                )
            })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A token as the tokens file keeps it (the secret only as its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id (in the token itself, and how `token revoke` names it).
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The tenant it sees.
    pub tenant: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the secret part, in hex.
    pub sha256: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// When it stops working (RFC 3339); `None`: when revoked. Console sessions expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl TokenRecord {
    /// Whether the token has expired at `now`.
    pub fn expired(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.expires
            .as_deref()
            .is_some_and(|e| chrono::DateTime::parse_from_rfc3339(e).map_or(true, |e| e <= now))
    }
}

/// An unused one-time login code, as [`LOGIN_CODES_FILE`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LoginCode {
    /// SHA-256 of the code, in hex.
    sha256: String,
    /// The tenant the session will see.
    tenant: String,
    /// The session's role.
    role: Role,
    /// Until when the code can be used (RFC 3339).
    expires: String,
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A token's holder: one tenant, one role.
    Token {
        /// The token's id.
        id: String,
        /// Its tenant.
        tenant: String,
        /// Its role.
        role: Role,
    },
    /// The local administrator: a command on the server's machine with read access to the data
    /// directory's `_gatehouse/serve.json` (CLI commands forwarded to a running server).
    LocalAdmin,
}

/// Errors of the tokens file.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a tokens file.
    #[error("{path}: not a tokens file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A bad argument.
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TokenError + '_ {
    move |source| TokenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], TokenError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| TokenError::Invalid(format!("no randomness from the system: {e}")))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Equality that takes as long whatever the first difference (for secrets' hashes).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Splits a token into its id and secret.
fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("gh_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 8 && secret.len() == 64).then_some((id, secret))
}

/// The tokens file as last read: what identifies its version ([`file_stamp`]), and its tokens.
type TokenCache = (Option<FileStamp>, Vec<TokenRecord>);

/// A version of a file: length, modification and change times, inode. A rewrite changes the
/// inode (it is a rename of a new file), so even two writes within one clock tick differ.
type FileStamp = (u64, Option<SystemTime>, i64, i64, u64);

fn file_stamp(path: &Path) -> Option<FileStamp> {
    let m = fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (ctime, ctime_ns, ino) = {
        use std::os::unix::fs::MetadataExt;
        (m.ctime(), m.ctime_nsec(), m.ino())
    };
    #[cfg(not(unix))]
    let (ctime, ctime_ns, ino) = (0, 0, 0);
    Some((m.len(), m.modified().ok(), ctime, ctime_ns, ino))
}

/// The tokens of a data directory.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    cache: RwLock<TokenCache>,
}

impl TokenStore {
    /// The tokens of the data directory `root`.
    pub fn new(root: &Path) -> TokenStore {
        TokenStore {
            path: root.join(TOKENS_FILE),
            cache: RwLock::new((None, Vec::new())),
        }
    }

    /// Every token (without secrets).
    pub fn list(&self) -> Result<Vec<TokenRecord>, TokenError> {
        self.read_file()
    }

    /// Makes a token; returns it (the only time the secret is seen) and its record.
    pub fn create(
        &self,
        tenant: &str,
        role: Role,
        name: Option<&str>,
    ) -> Result<(String, TokenRecord), TokenError> {
        self.locked(|| self.create_expiring(tenant, role, name, None))
    }

    /// Runs `f` holding the data directory's tokens lock (`_gatehouse/tokens.lock`, an exclusive
    /// file lock), so that read-change-write of the tokens and login codes by this server and by
    /// CLI commands never lose each other's changes.
    fn locked<T>(&self, f: impl FnOnce() -> Result<T, TokenError>) -> Result<T, TokenError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join("tokens.lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        let result = f();
        let _ = lock.unlock();
        result
    }

    /// [`TokenStore::create`] with an expiry, for a caller holding the lock.
    fn create_expiring(
        &self,
        tenant: &str,
        role: Role,
        name: Option<&str>,
        lifetime: Option<Duration>,
    ) -> Result<(String, TokenRecord), TokenError> {
        gatehouse_store::layout::check_tenant_id(tenant).map_err(TokenError::Invalid)?;
        let now = chrono::Utc::now();
        let mut tokens = self.read_file()?;
        // Expired sessions are dropped whenever the file is written.
        tokens.retain(|t| !t.expired(now));
        let id = loop {
            let id = hex(&random_bytes::<4>()?);
            if tokens.iter().all(|t| t.id != id) {
                break id;
            }
        };
        let secret = hex(&random_bytes::<32>()?);
        let record = TokenRecord {
            id: id.clone(),
            name: name
                .map(str::to_string)
                .unwrap_or_else(|| format!("{role}@{tenant}")),
            tenant: tenant.to_ascii_lowercase(),
            role,
            sha256: sha256_hex(&secret),
            created: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            expires: lifetime.map(|l| rfc3339(now + l)),
        };
        tokens.push(record.clone());
        self.write_file(&tokens)?;
        Ok((format!("gh_{id}_{secret}"), record))
    }

    /// Removes the tokens with this id or name; how many.
    pub fn revoke(&self, id_or_name: &str) -> Result<usize, TokenError> {
        self.locked(|| {
            let mut tokens = self.read_file()?;
            let before = tokens.len();
            tokens.retain(|t| t.id != id_or_name && t.name != id_or_name);
            let removed = before - tokens.len();
            if removed > 0 {
                self.write_file(&tokens)?;
            }
            Ok(removed)
        })
    }

    /// Ends a console session: revokes the token with this id if a login link made it (other
    /// tokens are revoked with `gatehouse token revoke` only). Whether one was revoked.
    pub fn end_session(&self, id: &str) -> Result<bool, TokenError> {
        self.locked(|| {
            let mut tokens = self.read_file()?;
            let before = tokens.len();
            tokens.retain(|t| !(t.id == id && t.name == SESSION_NAME));
            let ended = tokens.len() != before;
            if ended {
                self.write_file(&tokens)?;
            }
            Ok(ended)
        })
    }

    /// Who holds `token`, if anyone.
    pub fn verify(&self, token: &str) -> Option<Principal> {
        let (id, secret) = parse_token(token)?;
        self.refresh();
        let hash = sha256_hex(secret);
        let now = chrono::Utc::now();
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        cache
            .1
            .iter()
            .find(|t| t.id == id)
            .filter(|t| constant_time_eq(t.sha256.as_bytes(), hash.as_bytes()))
            .filter(|t| !t.expired(now))
            .map(|t| Principal::Token {
                id: t.id.clone(),
                tenant: t.tenant.clone(),
                role: t.role,
            })
    }

    /// Makes a one-time login link's code for `tenant` and `role`: good for
    /// [`LOGIN_CODE_LIFETIME`] and one [`redeem_login_code`](Self::redeem_login_code).
    pub fn create_login_code(&self, tenant: &str, role: Role) -> Result<String, TokenError> {
        gatehouse_store::layout::check_tenant_id(tenant).map_err(TokenError::Invalid)?;
        if role == Role::Ingest {
            return Err(TokenError::Invalid(
                "a login link is for reading: the ingest role reads nothing".into(),
            ));
        }
        self.locked(|| {
            let path = self.codes_path();
            let now = chrono::Utc::now();
            let mut codes = self.read_codes(&path)?;
            codes.retain(|c| !code_expired(c, now));
            let code = hex(&random_bytes::<24>()?);
            codes.push(LoginCode {
                sha256: sha256_hex(&code),
                tenant: tenant.to_ascii_lowercase(),
                role,
                expires: rfc3339(now + LOGIN_CODE_LIFETIME),
            });
            self.write_json(&path, &codes)?;
            Ok(code)
        })
    }

    /// Exchanges a login code (once) for a session token that expires after
    /// [`SESSION_LIFETIME`]; `None` for an unknown, used or expired code.
    pub fn redeem_login_code(
        &self,
        code: &str,
    ) -> Result<Option<(String, TokenRecord)>, TokenError> {
        self.locked(|| {
            let path = self.codes_path();
            let now = chrono::Utc::now();
            let hash = sha256_hex(code.trim());
            let mut codes = self.read_codes(&path)?;
            let before = codes.len();
            let found = codes
                .iter()
                .position(|c| constant_time_eq(c.sha256.as_bytes(), hash.as_bytes()))
                .map(|i| codes.remove(i));
            codes.retain(|c| !code_expired(c, now));
            if codes.len() != before {
                self.write_json(&path, &codes)?;
            }
            match found {
                Some(c) if !code_expired(&c, now) => self
                    .create_expiring(
                        &c.tenant,
                        c.role,
                        Some(SESSION_NAME),
                        Some(SESSION_LIFETIME),
                    )
                    .map(Some),
                _ => Ok(None),
            }
        })
    }

    fn codes_path(&self) -> PathBuf {
        self.path
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."))
            .join(LOGIN_CODES_FILE)
    }

    fn read_codes(&self, path: &Path) -> Result<Vec<LoginCode>, TokenError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TokenError::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io(path)(e)),
        }
    }

    /// Re-reads the file when it changed since it was last read.
    fn refresh(&self) {
        let stamp = file_stamp(&self.path);
        if self.cache.read().unwrap_or_else(|e| e.into_inner()).0 == stamp && stamp.is_some() {
            return;
        }
        let tokens = self.read_file().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the tokens; refusing every token");
            Vec::new()
        });
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = (stamp, tokens);
    }

    fn read_file(&self) -> Result<Vec<TokenRecord>, TokenError> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TokenError::Corrupt {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io(&self.path)(e)),
        }
    }

    fn write_file(&self, tokens: &[TokenRecord]) -> Result<(), TokenError> {
        self.write_json(&self.path, tokens)
    }

    /// Replaces a file atomically, readable by its owner only.
    fn write_json<T: Serialize + ?Sized>(&self, path: &Path, value: &T) -> Result<(), TokenError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io(dir))?;
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        let text =
            serde_json::to_vec_pretty(value).map_err(|e| TokenError::Invalid(e.to_string()))?;
        write_private(&tmp, &text)?;
        fs::rename(&tmp, path).map_err(io(path))?;
        Ok(())
    }
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn code_expired(code: &LoginCode, now: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(&code.expires).map_or(true, |e| e <= now)
}

/// How long an export ticket can be used.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(60);

/// Single-use stand-ins for a token in a download link (`?ticket=`), held in memory by the
/// server that issued them: a browser following a link cannot send an `Authorization` header.
#[derive(Debug, Default)]
pub struct Tickets {
    issued: Mutex<HashMap<String, (Principal, Instant)>>,
}

impl Tickets {
    /// A new ticket standing for `principal` for [`TICKET_LIFETIME`].
    pub fn issue(&self, principal: Principal) -> Result<String, TokenError> {
        let ticket = hex(&random_bytes::<24>()?);
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.retain(|_, (_, until)| *until > Instant::now());
        issued.insert(
            sha256_hex(&ticket),
            (principal, Instant::now() + TICKET_LIFETIME),
        );
        Ok(ticket)
    }

    /// Who a ticket stands for, once: the ticket is spent.
    pub fn redeem(&self, ticket: &str) -> Option<Principal> {
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let (principal, until) = issued.remove(&sha256_hex(ticket))?;
        (until > Instant::now()).then_some(principal)
    }
}

/// Writes a file only its owner can read.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TokenError> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_as_hashes_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let (token, record) = store.create("Contoso", Role::Ingest, None).unwrap();
        assert!(token.starts_with(&format!("gh_{}_", record.id)));
        assert_eq!(record.tenant, "contoso");
        let file = fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        let secret = token.rsplit('_').next().unwrap();
        assert!(!file.contains(secret), "the secret is not stored");
        assert!(file.contains(&sha256_hex(secret)));
        assert_eq!(
            store.verify(&token),
            Some(Principal::Token {
                id: record.id.clone(),
                tenant: "contoso".into(),
                role: Role::Ingest
            })
        );
        // Any change to the secret, a wrong id, or garbage: nobody.
        let mut wrong = token.clone().into_bytes();
        let last = wrong.len() - 1;
        wrong[last] = if wrong[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(store.verify(&String::from_utf8(wrong).unwrap()), None);
        assert_eq!(
            store.verify(&token.replacen(&record.id, "00000000", 1)),
            None
        );
        for junk in [
            "",
            "gh_",
            "Bearer x",
            "gh_1234_5678",
            &token[..token.len() - 1],
        ] {
            assert_eq!(store.verify(junk), None, "{junk}");
        }
        // A tokens file that cannot be read refuses every token (not the last ones it held).
        let good = fs::read(dir.path().join(TOKENS_FILE)).unwrap();
        fs::write(dir.path().join(TOKENS_FILE), b"[{,").unwrap();
        assert_eq!(store.verify(&token), None);
        fs::write(dir.path().join(TOKENS_FILE), &good).unwrap();
        assert!(store.verify(&token).is_some());
        // Revoked (by another store object, as `gatehouse token revoke` would be): refused.
        let other = TokenStore::new(dir.path());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(other.revoke(&record.id).unwrap(), 1);
        assert_eq!(store.verify(&token), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(TOKENS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
    }

    #[test]
    fn login_codes_are_used_once_and_sessions_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let code = store
            .create_login_code("Contoso", Role::SecurityReader)
            .unwrap();
        let file = fs::read_to_string(dir.path().join(LOGIN_CODES_FILE)).unwrap();
        assert!(!file.contains(&code), "the code is not stored");
        assert!(store.redeem_login_code("0000").unwrap().is_none());
        let (token, record) = store.redeem_login_code(&code).unwrap().unwrap();
        assert_eq!(record.role, Role::SecurityReader);
        assert!(record.expires.is_some());
        assert!(matches!(
            store.verify(&token),
            Some(Principal::Token {
                role: Role::SecurityReader,
                ..
            })
        ));
        assert!(
            store.redeem_login_code(&code).unwrap().is_none(),
            "used once"
        );
        assert!(store.create_login_code("contoso", Role::Ingest).is_err());
        // An expired session is refused, and dropped at the next write.
        let mut tokens = store.list().unwrap();
        tokens[0].expires = Some("2020-01-01T00:00:00Z".into());
        store.write_file(&tokens).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(store.verify(&token), None);
        store.create("contoso", Role::GlobalReader, None).unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
    }

    #[test]
    fn tickets_are_spent_once() {
        let tickets = Tickets::default();
        let t = tickets.issue(Principal::LocalAdmin).unwrap();
        assert_eq!(tickets.redeem("nope"), None);
        assert_eq!(tickets.redeem(&t), Some(Principal::LocalAdmin));
        assert_eq!(tickets.redeem(&t), None);
    }

    #[test]
    fn roles_read_what_entra_lets_them() {
        assert!(Role::ReportsReader.may_read(LogKind::SignIns));
        assert!(!Role::ReportsReader.may_read(LogKind::RiskDetections));
        assert!(Role::SecurityReader.may_read(LogKind::RiskyUsers));
        assert!(!Role::Ingest.may_read(LogKind::SignIns));
        assert!(Role::Ingest.may_ingest() && !Role::GlobalReader.may_ingest());
        assert_eq!("security-admin".parse::<Role>(), Ok(Role::SecurityAdmin));
        assert!("admin".parse::<Role>().is_err());
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    }
}
