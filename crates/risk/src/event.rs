//! Sign-ins as the risk engine sees them: the few properties detections look at, read from the
//! store's `signins` table with one SQL projection, strings interned.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, ListArray, RecordBatch, StructArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use gatehouse_model::SignInKind;

use crate::{Result, RiskError};

/// An interned string: `0` is the empty string.
pub type Sym = u32;

/// Interns strings so that the engine's state keys are small integers.
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<Box<str>, Sym>,
    names: Vec<Box<str>>,
}

impl Interner {
    /// A new interner knowing only the empty string.
    pub fn new() -> Interner {
        Interner {
            ids: HashMap::new(),
            names: vec!["".into()],
        }
    }

    /// The symbol of `s` (`0` for empty).
    pub fn intern(&mut self, s: &str) -> Sym {
        if s.is_empty() {
            return 0;
        }
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as Sym;
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    /// The string of a symbol.
    pub fn get(&self, sym: Sym) -> &str {
        self.names.get(sym as usize).map_or("", |s| s)
    }
}

/// One sign-in, reduced to what detections look at.
#[derive(Debug, Clone)]
pub struct SignInEvent {
    /// The sign-in's `id` (its request id).
    pub id: Box<str>,
    /// `createdDateTime`, µs since the epoch.
    pub time: i64,
    /// When it was stored (`_ingestedAt`), µs since the epoch.
    pub ingested: i64,
    /// Which of the four sign-in types.
    pub kind: SignInKind,
    /// Who: `userId` for user sign-ins (the UPN when there is none, as for accounts that do not
    /// exist), `servicePrincipalId` for workload identities.
    pub subject: Sym,
    /// `userPrincipalName` (or the service principal's name).
    pub upn: Sym,
    /// `userDisplayName` (or the service principal's name).
    pub display: Sym,
    /// `userId`.
    pub user_id: Sym,
    /// `appId` (for a service principal: its application id).
    pub app_id: Sym,
    /// `appDisplayName`.
    pub app: Sym,
    /// `ipAddress`.
    pub ip: Sym,
    /// `autonomousSystemNumber` (0 when unknown).
    pub asn: i32,
    /// `location.countryOrRegion`.
    pub country: Sym,
    /// `location.city`.
    pub city: Sym,
    /// `location.geoCoordinates` (latitude, longitude).
    pub coords: Option<(f64, f64)>,
    /// `deviceDetail.deviceId`.
    pub device_id: Sym,
    /// `deviceDetail.operatingSystem` without its version.
    pub os: Sym,
    /// `deviceDetail.browser` without its version.
    pub browser: Sym,
    /// `status.errorCode`.
    pub code: i32,
    /// `clientAppUsed`.
    pub client_app: Sym,
    /// `sessionId`.
    pub session: Sym,
    /// `networkLocationDetails` names a trusted named location.
    pub trusted: bool,
    /// `servicePrincipalCredentialKeyId`.
    pub key_id: Sym,
    /// `userAgent`.
    pub user_agent: Sym,
}

impl SignInEvent {
    /// A user sign-in (interactive or not).
    pub fn is_user(&self) -> bool {
        matches!(
            self.kind,
            SignInKind::InteractiveUser | SignInKind::NonInteractiveUser
        )
    }
}

/// The user id Entra logs for an account that does not exist.
const NIL_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// The projection [`events_from_batches`] reads; `{where}` is replaced by a condition.
pub const EVENT_SQL: &str = "SELECT id, CAST(createdDateTime AS BIGINT) AS t, \
 CAST(_ingestedAt AS BIGINT) AS ingested, \
 CASE WHEN array_has(signInEventTypes, 'managedIdentity') THEN 3 \
  WHEN array_has(signInEventTypes, 'servicePrincipal') THEN 2 \
  WHEN array_has(signInEventTypes, 'nonInteractiveUser') THEN 1 \
  WHEN array_has(signInEventTypes, 'interactiveUser') THEN 0 \
  WHEN isInteractive = false THEN 1 ELSE 0 END AS kind, \
 userId, userPrincipalName, userDisplayName, servicePrincipalId, servicePrincipalName, appId, \
 appDisplayName, ipAddress, autonomousSystemNumber AS asn, \
 location['countryOrRegion'] AS country, location['city'] AS city, \
 location['geoCoordinates']['latitude'] AS lat, location['geoCoordinates']['longitude'] AS lon, \
 deviceDetail['deviceId'] AS device_id, deviceDetail['operatingSystem'] AS os, \
 deviceDetail['browser'] AS browser, status['errorCode'] AS code, clientAppUsed, sessionId, \
 networkLocationDetails, servicePrincipalCredentialKeyId, userAgent \
 FROM signins {where}";

fn strings(batch: &RecordBatch, name: &str) -> Result<arrow::array::StringArray> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| RiskError::Invalid(format!("the sign-in projection lacks `{name}`")))?;
    let utf8 = cast(col, &DataType::Utf8)?;
    Ok(utf8.as_string::<i32>().clone())
}

fn numbers<T: arrow::datatypes::ArrowPrimitiveType>(
    batch: &RecordBatch,
    name: &str,
) -> Result<arrow::array::PrimitiveArray<T>> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| RiskError::Invalid(format!("the sign-in projection lacks `{name}`")))?;
    let c = cast(col, &T::DATA_TYPE)?;
    Ok(c.as_primitive::<T>().clone())
}

/// "Chrome 124.0.0" → "Chrome"; "Ios 17.5.1" → "Ios"; "Windows10" stays.
pub fn family(s: &str) -> &str {
    let s = s.trim();
    match s.find(|c: char| c.is_ascii_digit()) {
        Some(0) | None => s,
        Some(i) => s[..i].trim_end(),
    }
}

fn trusted_locations(batch: &RecordBatch) -> Result<Vec<bool>> {
    let n = batch.num_rows();
    let Some(col) = batch.column_by_name("networkLocationDetails") else {
        return Ok(vec![false; n]);
    };
    let Some(list) = col.as_any().downcast_ref::<ListArray>() else {
        return Ok(vec![false; n]);
    };
    let Some(items) = list.values().as_any().downcast_ref::<StructArray>() else {
        return Ok(vec![false; n]);
    };
    let Some(types) = items.column_by_name("networkType") else {
        return Ok(vec![false; n]);
    };
    let types = cast(types, &DataType::Utf8)?;
    let types = types.as_string::<i32>();
    let offsets = list.value_offsets();
    Ok((0..n)
        .map(|row| {
            !list.is_null(row)
                && (offsets[row] as usize..offsets[row + 1] as usize)
                    .any(|i| types.is_valid(i) && types.value(i) == "trustedNamedLocation")
        })
        .collect())
}

/// Reads the rows of [`EVENT_SQL`]'s result.
pub fn events_from_batches(
    batches: &[RecordBatch],
    strings_in: &mut Interner,
) -> Result<Vec<SignInEvent>> {
    let mut out = Vec::with_capacity(batches.iter().map(|b| b.num_rows()).sum());
    for batch in batches {
        let id = strings(batch, "id")?;
        let t = numbers::<Int64Type>(batch, "t")?;
        let ingested = numbers::<Int64Type>(batch, "ingested")?;
        let kind = numbers::<Int32Type>(batch, "kind")?;
        let user_id = strings(batch, "userId")?;
        let upn = strings(batch, "userPrincipalName")?;
        let display = strings(batch, "userDisplayName")?;
        let sp_id = strings(batch, "servicePrincipalId")?;
        let sp_name = strings(batch, "servicePrincipalName")?;
        let app_id = strings(batch, "appId")?;
        let app = strings(batch, "appDisplayName")?;
        let ip = strings(batch, "ipAddress")?;
        let asn = numbers::<Int32Type>(batch, "asn")?;
        let country = strings(batch, "country")?;
        let city = strings(batch, "city")?;
        let lat = numbers::<Float64Type>(batch, "lat")?;
        let lon = numbers::<Float64Type>(batch, "lon")?;
        let device_id = strings(batch, "device_id")?;
        let os = strings(batch, "os")?;
        let browser = strings(batch, "browser")?;
        let code = numbers::<Int32Type>(batch, "code")?;
        let client_app = strings(batch, "clientAppUsed")?;
        let session = strings(batch, "sessionId")?;
        let key_id = strings(batch, "servicePrincipalCredentialKeyId")?;
        let user_agent = strings(batch, "userAgent")?;
        let trusted = trusted_locations(batch)?;
        fn s(a: &arrow::array::StringArray, i: usize) -> &str {
            if a.is_valid(i) {
                a.value(i)
            } else {
                ""
            }
        }
        for (i, &trusted) in trusted.iter().enumerate() {
            if !t.is_valid(i) {
                continue;
            }
            let kind = match kind.value(i) {
                3 => SignInKind::ManagedIdentity,
                2 => SignInKind::ServicePrincipal,
                1 => SignInKind::NonInteractiveUser,
                _ => SignInKind::InteractiveUser,
            };
            let workload = matches!(
                kind,
                SignInKind::ServicePrincipal | SignInKind::ManagedIdentity
            );
            let (subject, upn_s, display_s) = if workload {
                let name = s(&sp_name, i);
                let name = if name.is_empty() { s(&app, i) } else { name };
                (s(&sp_id, i), name, name)
            } else {
                let uid = s(&user_id, i);
                // Accounts that do not exist carry the nil GUID (or no id at all).
                let uid = if uid == NIL_GUID { "" } else { uid };
                let u = s(&upn, i);
                (
                    if uid.is_empty() {
                        // Accounts that do not exist have no id: the UPN stands for them.
                        u
                    } else {
                        uid
                    },
                    u,
                    s(&display, i),
                )
            };
            let coords = (lat.is_valid(i) && lon.is_valid(i))
                .then(|| (lat.value(i), lon.value(i)))
                .filter(|(a, b)| a.is_finite() && b.is_finite() && (*a != 0.0 || *b != 0.0));
            out.push(SignInEvent {
                id: s(&id, i).into(),
                time: t.value(i),
                ingested: if ingested.is_valid(i) {
                    ingested.value(i)
                } else {
                    0
                },
                kind,
                subject: strings_in.intern(subject),
                upn: strings_in.intern(upn_s),
                display: strings_in.intern(display_s),
                user_id: strings_in.intern(match s(&user_id, i) {
                    NIL_GUID => "",
                    other => other,
                }),
                app_id: strings_in.intern(s(&app_id, i)),
                app: strings_in.intern(s(&app, i)),
                ip: strings_in.intern(s(&ip, i)),
                asn: if asn.is_valid(i) { asn.value(i) } else { 0 },
                country: strings_in.intern(s(&country, i)),
                city: strings_in.intern(s(&city, i)),
                coords,
                device_id: strings_in.intern(s(&device_id, i)),
                os: strings_in.intern(family(s(&os, i))),
                browser: strings_in.intern(family(s(&browser, i))),
                code: if code.is_valid(i) { code.value(i) } else { 0 },
                client_app: strings_in.intern(s(&client_app, i)),
                session: strings_in.intern(s(&session, i)),
                trusted,
                key_id: strings_in.intern(s(&key_id, i)),
                user_agent: strings_in.intern(s(&user_agent, i)),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_drop_versions() {
        assert_eq!(family("Chrome 124.0.0"), "Chrome");
        assert_eq!(family("Ios 17.5.1"), "Ios");
        assert_eq!(family("Windows10"), "Windows");
        assert_eq!(family("Mobile Safari 17.5"), "Mobile Safari");
        assert_eq!(family(""), "");
        assert_eq!(family("7zip"), "7zip");
    }

    #[test]
    fn interner_keeps_empty_as_zero() {
        let mut i = Interner::new();
        assert_eq!(i.intern(""), 0);
        let a = i.intern("a");
        assert_eq!(i.intern("a"), a);
        assert_ne!(a, 0);
        assert_eq!(i.get(a), "a");
    }
}
