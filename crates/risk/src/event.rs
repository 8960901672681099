//! Sign-ins as the risk engine sees them: the few properties detections look at, read from the
//! flat batches `read` makes of the stored files, strings interned and ids as 128-bit numbers.

use std::collections::HashMap;

use arrow::array::{
    Array, AsArray, LargeStringArray, ListArray, RecordBatch, StringArray, StringViewArray,
    StructArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use gatehouse_model::SignInKind;

use crate::{Result, RiskError};

/// An interned string: `0` is the empty string.
pub type Sym = u32;

/// A fast hasher for the engine's maps (keys are small integers and short strings; nothing is
/// keyed by untrusted input an attacker could shape into collisions at scale).
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Interns strings so that the engine's state keys are small integers.
#[derive(Debug, Default)]
pub struct Interner {
    ids: Map<Box<str>, Sym>,
    names: Vec<Box<str>>,
}

impl Interner {
    /// A new interner knowing only the empty string.
    pub fn new() -> Interner {
        Interner {
            ids: Map::default(),
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

/// A sign-in's id: a GUID as its 128 bits (Entra's ids are lower-case GUIDs), anything else
/// by a hash the engine can turn back into the text ([`IdTexts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub u128);

/// The texts of ids that are not canonical GUIDs.
#[derive(Debug, Default)]
pub struct IdTexts {
    odd: Map<u128, Box<str>>,
}

/// Lower-case hex digit values; 0xFF for anything else.
const HEX: [u8; 256] = {
    let mut t = [0xFF; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// A canonical (lower-case, hyphenated) GUID as 128 bits.
fn parse_guid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let mut v: u128 = 0;
    let mut bad = 0u8;
    for range in [0..8, 9..13, 14..18, 19..23, 24..36] {
        for &c in &b[range] {
            let d = HEX[c as usize];
            bad |= d;
            v = (v << 4) | u128::from(d & 0x0F);
        }
    }
    (bad & 0xF0 == 0).then_some(v)
}

impl IdTexts {
    /// The id of a text.
    pub fn id(&mut self, s: &str) -> EventId {
        match parse_guid(s) {
            Some(v) => EventId(v),
            None => {
                // A 128-bit hash: meeting a GUID's bits by chance is not a concern.
                let h = xxhash_rust::xxh3::xxh3_128(s.as_bytes());
                self.odd.entry(h).or_insert_with(|| s.into());
                EventId(h)
            }
        }
    }

    /// The text of an id.
    pub fn text(&self, id: EventId) -> String {
        if let Some(s) = self.odd.get(&id.0) {
            return s.to_string();
        }
        crate::detection::guid_from_hex(&format!("{:032x}", id.0))
    }
}

/// Who an event is about, kept once per identity.
#[derive(Debug, Clone)]
pub(crate) struct Who {
    pub user_id: Sym,
    pub upn: Sym,
    pub display: Sym,
    pub app_id: Sym,
    pub workload: bool,
}

/// One sign-in, reduced to what detections look at.
#[derive(Debug, Clone)]
pub struct SignInEvent {
    /// The sign-in's `id` (its request id).
    pub id: EventId,
    /// `createdDateTime`, µs since the epoch.
    pub time: i64,
    /// When it was stored (`_ingestedAt`), µs since the epoch.
    pub ingested: i64,
    /// Which of the four sign-in types.
    pub kind: SignInKind,
    /// Who: `userId` for user sign-ins (the UPN when there is none, as for accounts that do not
    /// exist), `servicePrincipalId` for workload identities.
    pub subject: Sym,
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
    /// `userAgent`, read only where a rule's evidence shows it (legacy clients, disabled
    /// accounts, addresses on the anonymiser list); 0 elsewhere.
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

/// A string cell as an owned `String` (empty when null).
pub(crate) fn owned_text(a: &StringArray, i: usize) -> String {
    if a.is_valid(i) {
        a.value(i).to_string()
    } else {
        String::new()
    }
}

/// A string column read in place, whatever Arrow string type it came as.
enum StrCol<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
    Owned(StringArray),
}

impl StrCol<'_> {
    fn get(&self, i: usize) -> &str {
        match self {
            StrCol::Utf8(a) => {
                if a.is_valid(i) {
                    a.value(i)
                } else {
                    ""
                }
            }
            StrCol::Large(a) => {
                if a.is_valid(i) {
                    a.value(i)
                } else {
                    ""
                }
            }
            StrCol::View(a) => {
                if a.is_valid(i) {
                    a.value(i)
                } else {
                    ""
                }
            }
            StrCol::Owned(a) => {
                if a.is_valid(i) {
                    a.value(i)
                } else {
                    ""
                }
            }
        }
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| RiskError::Invalid(format!("the sign-in projection lacks `{name}`")))
}

fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Result<StrCol<'a>> {
    let col = column(batch, name)?;
    Ok(match col.data_type() {
        DataType::Utf8 => StrCol::Utf8(col.as_string::<i32>()),
        DataType::LargeUtf8 => StrCol::Large(col.as_string::<i64>()),
        DataType::Utf8View => StrCol::View(col.as_string_view()),
        _ => StrCol::Owned(cast(col, &DataType::Utf8)?.as_string::<i32>().clone()),
    })
}

fn numbers<T: arrow::datatypes::ArrowPrimitiveType>(
    batch: &RecordBatch,
    name: &str,
) -> Result<arrow::array::PrimitiveArray<T>> {
    let c = cast(column(batch, name)?, &T::DATA_TYPE)?;
    Ok(c.as_primitive::<T>().clone())
}

/// "Chrome 124.0.0" → "Chrome"; "Ios 17.5.1" → "Ios"; "Windows10" → "Windows".
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

/// The user id Entra logs for an account that does not exist.
const NIL_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// What reading needs from the engine: its strings, ids and identities.
pub(crate) struct Reader<'e> {
    pub strings: &'e mut Interner,
    pub ids: &'e mut IdTexts,
    pub who: &'e mut Map<Sym, Who>,
    /// Whether a row's user agent may be shown (an address on the anonymiser list).
    pub listed: &'e mut dyn FnMut(&str) -> bool,
}

/// Clients whose evidence shows the user agent.
fn shows_user_agent(client: &str, code: i32) -> bool {
    code == 50057 || crate::engine::is_legacy_client(client)
}

impl Reader<'_> {
    /// Reads flat sign-in batches (as `read` lays them out).
    pub fn events(&mut self, batches: &[RecordBatch]) -> Result<Vec<SignInEvent>> {
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
                // Accounts that do not exist carry the nil GUID (or no id at all): their UPN
                // stands for them.
                let uid = match user_id.get(i) {
                    NIL_GUID => "",
                    other => other,
                };
                let subject_text = if workload {
                    sp_id.get(i)
                } else if uid.is_empty() {
                    upn.get(i)
                } else {
                    uid
                };
                let subject = self.strings.intern(subject_text);
                if !self.who.contains_key(&subject) {
                    let who = if workload {
                        let name = match sp_name.get(i) {
                            "" => app.get(i),
                            n => n,
                        };
                        let name = self.strings.intern(name);
                        Who {
                            user_id: 0,
                            upn: name,
                            display: name,
                            app_id: self.strings.intern(app_id.get(i)),
                            workload: true,
                        }
                    } else {
                        Who {
                            user_id: self.strings.intern(uid),
                            upn: self.strings.intern(upn.get(i)),
                            display: self.strings.intern(display.get(i)),
                            app_id: 0,
                            workload: false,
                        }
                    };
                    self.who.insert(subject, who);
                }
                let coords = (lat.is_valid(i) && lon.is_valid(i))
                    .then(|| (lat.value(i), lon.value(i)))
                    .filter(|(a, b)| a.is_finite() && b.is_finite() && (*a != 0.0 || *b != 0.0));
                let code = if code.is_valid(i) { code.value(i) } else { 0 };
                let client = client_app.get(i);
                let ip_text = ip.get(i);
                let agent = if shows_user_agent(client, code) || (self.listed)(ip_text) {
                    self.strings.intern(user_agent.get(i))
                } else {
                    0
                };
                out.push(SignInEvent {
                    id: self.ids.id(id.get(i)),
                    time: t.value(i),
                    ingested: if ingested.is_valid(i) {
                        ingested.value(i)
                    } else {
                        0
                    },
                    kind,
                    subject,
                    ip: self.strings.intern(ip_text),
                    asn: if asn.is_valid(i) { asn.value(i) } else { 0 },
                    country: self.strings.intern(country.get(i)),
                    city: self.strings.intern(city.get(i)),
                    coords,
                    device_id: self.strings.intern(device_id.get(i)),
                    os: self.strings.intern(family(os.get(i))),
                    browser: self.strings.intern(family(browser.get(i))),
                    code,
                    client_app: self.strings.intern(client),
                    session: self.strings.intern(session.get(i)),
                    trusted,
                    key_id: self.strings.intern(key_id.get(i)),
                    user_agent: agent,
                });
            }
        }
        Ok(out)
    }
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
    fn ids_round_trip() {
        let mut ids = IdTexts::default();
        for text in [
            "5f1c2a3b-0000-4000-8000-00000000abcd",
            "5F1C2A3B-0000-4000-8000-00000000ABCD",
            "not-a-guid",
            "",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
        ] {
            let id = ids.id(text);
            assert_eq!(ids.text(id), text);
        }
        // Canonical GUIDs, whatever their bits, take no memory.
        assert_eq!(ids.odd.len(), 3);
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
