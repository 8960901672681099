//! Static reference data: cities, ISPs with their real ASNs and address blocks, Microsoft
//! first-party application ids, people's names, departments, company names and AADSTS
//! error strings.

/// A city as Entra's IP geolocation reports it.
#[derive(Debug)]
pub(crate) struct City {
    pub name: &'static str,
    pub state: &'static str,
    pub country: &'static str,
    pub lat: f64,
    pub lon: f64,
    /// UTC offset in minutes during November (standard time north, daylight time south).
    pub tz_min: i32,
}

macro_rules! city {
    ($n:expr, $s:expr, $c:expr, $lat:expr, $lon:expr, $tz:expr) => {
        City {
            name: $n,
            state: $s,
            country: $c,
            lat: $lat,
            lon: $lon,
            tz_min: $tz,
        }
    };
}

/// All cities the simulator knows (offices, homes, travel destinations, attacker locations).
pub(crate) static CITIES: &[City] = &[
    city!("New York", "New York", "US", 40.7128, -74.0060, -300),
    city!("Brooklyn", "New York", "US", 40.6782, -73.9442, -300),
    city!("Jersey City", "New Jersey", "US", 40.7178, -74.0431, -300),
    city!("Seattle", "Washington", "US", 47.6062, -122.3321, -480),
    city!("Bellevue", "Washington", "US", 47.6101, -122.2015, -480),
    city!("Redmond", "Washington", "US", 47.6740, -122.1215, -480),
    city!(
        "San Francisco",
        "California",
        "US",
        37.7749,
        -122.4194,
        -480
    ),
    city!("Oakland", "California", "US", 37.8044, -122.2712, -480),
    city!("Chicago", "Illinois", "US", 41.8781, -87.6298, -360),
    city!("Evanston", "Illinois", "US", 42.0451, -87.6877, -360),
    city!("Austin", "Texas", "US", 30.2672, -97.7431, -360),
    city!("Boston", "Massachusetts", "US", 42.3601, -71.0589, -300),
    city!("Cambridge", "Massachusetts", "US", 42.3736, -71.1097, -300),
    city!("Denver", "Colorado", "US", 39.7392, -104.9903, -420),
    city!("Atlanta", "Georgia", "US", 33.7490, -84.3880, -300),
    city!("London", "England", "GB", 51.5074, -0.1278, 0),
    city!("Croydon", "England", "GB", 51.3762, -0.0982, 0),
    city!("Manchester", "England", "GB", 53.4808, -2.2426, 0),
    city!("Reading", "England", "GB", 51.4543, -0.9781, 0),
    city!("Berlin", "Berlin", "DE", 52.5200, 13.4050, 60),
    city!("Munich", "Bavaria", "DE", 48.1351, 11.5820, 60),
    city!("Frankfurt am Main", "Hesse", "DE", 50.1109, 8.6821, 60),
    city!("Hamburg", "Hamburg", "DE", 53.5511, 9.9937, 60),
    city!("Paris", "Ile-de-France", "FR", 48.8566, 2.3522, 60),
    city!("Lyon", "Auvergne-Rhone-Alpes", "FR", 45.7640, 4.8357, 60),
    city!("Bengaluru", "Karnataka", "IN", 12.9716, 77.5946, 330),
    city!("Hyderabad", "Telangana", "IN", 17.3850, 78.4867, 330),
    city!("Pune", "Maharashtra", "IN", 18.5204, 73.8567, 330),
    city!("Sydney", "New South Wales", "AU", -33.8688, 151.2093, 660),
    city!("Melbourne", "Victoria", "AU", -37.8136, 144.9631, 660),
    city!("Toronto", "Ontario", "CA", 43.6532, -79.3832, -300),
    city!(
        "Vancouver",
        "British Columbia",
        "CA",
        49.2827,
        -123.1207,
        -480
    ),
    city!("Dublin", "Dublin", "IE", 53.3498, -6.2603, 0),
    city!("Amsterdam", "North Holland", "NL", 52.3676, 4.9041, 60),
    city!("Tokyo", "Tokyo", "JP", 35.6762, 139.6503, 540),
    city!("Singapore", "Singapore", "SG", 1.3521, 103.8198, 480),
    city!("Madrid", "Madrid", "ES", 40.4168, -3.7038, 60),
    // Attacker / hosting locations.
    city!("Lagos", "Lagos", "NG", 6.5244, 3.3792, 60),
    city!("Moscow", "Moscow", "RU", 55.7558, 37.6173, 180),
    city!(
        "Ho Chi Minh City",
        "Ho Chi Minh",
        "VN",
        10.8231,
        106.6297,
        420
    ),
    city!("Sao Paulo", "Sao Paulo", "BR", -23.5505, -46.6333, -180),
    city!("Bucharest", "Bucuresti", "RO", 44.4268, 26.1025, 120),
    city!("North Bergen", "New Jersey", "US", 40.8043, -74.0121, -300),
    city!("Roubaix", "Hauts-de-France", "FR", 50.6942, 3.1746, 60),
    city!("Helsinki", "Uusimaa", "FI", 60.1699, 24.9384, 120),
    city!("Dallas", "Texas", "US", 32.7767, -96.7970, -360),
    city!("Piscataway", "New Jersey", "US", 40.5549, -74.4643, -300),
    city!("Boydton", "Virginia", "US", 36.6676, -78.3875, -300),
    city!("Dublin", "Leinster", "IE", 53.3331, -6.2489, 0),
];

/// What an ISP is used for in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IspKind {
    /// Home broadband.
    Residential,
    /// Mobile carrier (CGNAT, address changes per session).
    Mobile,
    /// Business fibre used for office egress.
    Business,
    /// Cloud / VPS hosting (attackers, automation).
    Hosting,
    /// Microsoft Azure datacentres (service principals running in Azure).
    Azure,
}

/// An autonomous system with a few of its address blocks.
#[derive(Debug)]
pub(crate) struct Isp {
    pub name: &'static str,
    pub asn: u32,
    pub country: &'static str,
    pub kind: IspKind,
    /// (a, b, c, d, prefix length)
    pub blocks: &'static [(u8, u8, u8, u8, u8)],
}

macro_rules! isp {
    ($n:expr, $asn:expr, $c:expr, $k:ident, [$($b:expr),* $(,)?]) => {
        Isp { name: $n, asn: $asn, country: $c, kind: IspKind::$k, blocks: &[$($b),*] }
    };
}

/// Known networks.
pub(crate) static ISPS: &[Isp] = &[
    isp!(
        "Comcast",
        7922,
        "US",
        Residential,
        [(73, 0, 0, 0, 8), (98, 192, 0, 0, 10)]
    ),
    isp!(
        "Verizon Fios",
        701,
        "US",
        Residential,
        [(173, 48, 0, 0, 12), (96, 224, 0, 0, 11)]
    ),
    isp!(
        "AT&T Internet",
        7018,
        "US",
        Residential,
        [(99, 0, 0, 0, 10), (107, 192, 0, 0, 10)]
    ),
    isp!("T-Mobile USA", 21928, "US", Mobile, [(172, 32, 0, 0, 11)]),
    isp!(
        "Verizon Wireless",
        22394,
        "US",
        Mobile,
        [(174, 192, 0, 0, 10)]
    ),
    isp!("Lumen", 3356, "US", Business, [(4, 0, 0, 0, 9)]),
    isp!("Zayo", 6461, "US", Business, [(64, 125, 0, 0, 16)]),
    isp!("Cogent", 174, "US", Business, [(38, 0, 0, 0, 8)]),
    isp!(
        "BT",
        2856,
        "GB",
        Residential,
        [(86, 128, 0, 0, 10), (81, 128, 0, 0, 11)]
    ),
    isp!("Virgin Media", 5089, "GB", Residential, [(86, 0, 0, 0, 11)]),
    isp!(
        "Sky Broadband",
        5607,
        "GB",
        Residential,
        [(2, 24, 0, 0, 13)]
    ),
    isp!("EE", 12576, "GB", Mobile, [(31, 94, 0, 0, 16)]),
    isp!("Colt", 8220, "GB", Business, [(212, 36, 0, 0, 16)]),
    isp!(
        "Deutsche Telekom",
        3320,
        "DE",
        Residential,
        [(79, 192, 0, 0, 10), (91, 0, 0, 0, 10), (84, 128, 0, 0, 10)]
    ),
    isp!("Telekom Mobil", 3320, "DE", Mobile, [(80, 187, 0, 0, 16)]),
    isp!(
        "Deutsche Telekom Business",
        3320,
        "DE",
        Business,
        [(217, 6, 0, 0, 16)]
    ),
    isp!("Orange", 3215, "FR", Residential, [(90, 0, 0, 0, 9)]),
    isp!(
        "Free SAS",
        12322,
        "FR",
        Residential,
        [(82, 64, 0, 0, 10), (88, 160, 0, 0, 11)]
    ),
    isp!("Orange Mobile", 3215, "FR", Mobile, [(92, 184, 0, 0, 16)]),
    isp!(
        "Orange Business",
        3215,
        "FR",
        Business,
        [(193, 252, 0, 0, 16)]
    ),
    isp!(
        "Bharti Airtel",
        24560,
        "IN",
        Residential,
        [(122, 160, 0, 0, 12)]
    ),
    isp!(
        "ACT Fibernet",
        24309,
        "IN",
        Residential,
        [(106, 51, 0, 0, 16)]
    ),
    isp!(
        "Reliance Jio",
        55836,
        "IN",
        Mobile,
        [(49, 32, 0, 0, 12), (157, 32, 0, 0, 12)]
    ),
    isp!(
        "Tata Communications",
        4755,
        "IN",
        Business,
        [(14, 140, 0, 0, 14)]
    ),
    isp!("Telstra", 1221, "AU", Residential, [(101, 160, 0, 0, 11)]),
    isp!("TPG", 7545, "AU", Residential, [(121, 44, 0, 0, 14)]),
    isp!("Telstra Mobile", 1221, "AU", Mobile, [(1, 128, 0, 0, 11)]),
    isp!(
        "Telstra Business",
        1221,
        "AU",
        Business,
        [(203, 45, 0, 0, 16)]
    ),
    isp!("Rogers", 812, "CA", Residential, [(99, 224, 0, 0, 11)]),
    isp!("Bell Canada", 577, "CA", Residential, [(70, 48, 0, 0, 13)]),
    isp!("Rogers Wireless", 812, "CA", Mobile, [(174, 88, 0, 0, 15)]),
    isp!("Bell Business", 577, "CA", Business, [(216, 208, 0, 0, 14)]),
    isp!("eir", 5466, "IE", Residential, [(86, 40, 0, 0, 13)]),
    isp!("Three Ireland", 13280, "IE", Mobile, [(37, 228, 0, 0, 16)]),
    isp!("KPN", 1136, "NL", Residential, [(77, 160, 0, 0, 12)]),
    isp!("SoftBank", 17676, "JP", Residential, [(126, 0, 0, 0, 8)]),
    isp!("NTT Docomo", 9605, "JP", Mobile, [(1, 66, 0, 0, 15)]),
    isp!("Singtel", 9506, "SG", Residential, [(116, 14, 0, 0, 15)]),
    isp!(
        "Telefonica de Espana",
        3352,
        "ES",
        Residential,
        [(83, 32, 0, 0, 11)]
    ),
    isp!("Vodafone Spain", 12430, "ES", Mobile, [(37, 132, 0, 0, 14)]),
    // Hotels / travel networks are modelled as residential ISPs of the destination country.
    // Attacker infrastructure.
    isp!(
        "DigitalOcean, LLC",
        14061,
        "US",
        Hosting,
        [
            (159, 203, 0, 0, 16),
            (167, 99, 0, 0, 16),
            (134, 209, 0, 0, 16)
        ]
    ),
    isp!(
        "OVH SAS",
        16276,
        "FR",
        Hosting,
        [(51, 68, 0, 0, 16), (54, 36, 0, 0, 16), (137, 74, 0, 0, 16)]
    ),
    isp!(
        "Hetzner Online GmbH",
        24940,
        "FI",
        Hosting,
        [
            (95, 216, 0, 0, 16),
            (135, 181, 0, 0, 16),
            (65, 21, 0, 0, 16)
        ]
    ),
    isp!(
        "The Constant Company (Vultr)",
        20473,
        "US",
        Hosting,
        [(45, 32, 0, 0, 16), (45, 76, 0, 0, 16), (149, 28, 0, 0, 16)]
    ),
    isp!("M247 Europe", 9009, "RO", Hosting, [(37, 120, 128, 0, 17)]),
    isp!(
        "Akamai (Linode)",
        63949,
        "US",
        Hosting,
        [(139, 162, 0, 0, 16), (172, 104, 0, 0, 15)]
    ),
    isp!("MTN Nigeria", 29465, "NG", Mobile, [(102, 88, 0, 0, 14)]),
    isp!(
        "Viettel Group",
        7552,
        "VN",
        Residential,
        [(27, 64, 0, 0, 12)]
    ),
    isp!(
        "PJSC Rostelecom",
        12389,
        "RU",
        Residential,
        [(95, 24, 0, 0, 13)]
    ),
    isp!(
        "Telefonica Brasil",
        18881,
        "BR",
        Residential,
        [(177, 32, 0, 0, 12)]
    ),
    // Automation.
    isp!(
        "Microsoft Corporation",
        8075,
        "US",
        Azure,
        [
            (20, 0, 0, 0, 11),
            (40, 64, 0, 0, 10),
            (52, 224, 0, 0, 11),
            (13, 64, 0, 0, 11)
        ]
    ),
    isp!(
        "Amazon.com, Inc.",
        16509,
        "US",
        Hosting,
        [(3, 0, 0, 0, 9), (18, 128, 0, 0, 9), (54, 64, 0, 0, 11)]
    ),
];

/// IPv6 allocations of the networks that hand out IPv6 to subscribers: (ISP name, prefix, length).
static ISP_V6: &[(&str, u128, u8)] = &[
    ("Comcast", 0x2601 << 112, 20),
    ("Verizon Fios", 0x2600_4040 << 96, 24),
    ("AT&T Internet", 0x2600_1700 << 96, 28),
    ("T-Mobile USA", 0x2607_fb90 << 96, 32),
    ("Verizon Wireless", 0x2600_1000 << 96, 28),
    ("BT", 0x2a00_23c0 << 96, 26),
    ("Sky Broadband", 0x2a02_0c7c << 96, 30),
    ("Deutsche Telekom", 0x2003 << 112, 19),
    ("Telekom Mobil", 0x2a01_0598 << 96, 32),
    ("Orange", 0x2a01_cb00 << 96, 24),
    ("Free SAS", 0x2a01_0e00 << 96, 26),
    ("Reliance Jio", 0x2409_4000 << 96, 22),
    ("Telstra", 0x2001_8000 << 96, 20),
    ("Telstra Mobile", 0x2001_8004 << 96, 32),
    ("Rogers", 0x2607_fea8 << 96, 32),
];

/// The IPv6 block of an ISP, if it has one.
pub(crate) fn v6_block(isp: usize) -> Option<(u128, u8)> {
    let name = ISPS.get(isp)?.name;
    ISP_V6
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, p, l)| (*p, *l))
}

/// A /64 inside a block (`r` supplies the subnet bits).
pub(crate) fn v6_subnet(block: (u128, u8), r: u64) -> u128 {
    let (base, len) = block;
    let sub_bits = 64 - len as u32;
    let sub = (r as u128) & ((1u128 << sub_bits) - 1);
    (base & !((1u128 << (128 - len as u32)) - 1)) | (sub << 64)
}

/// Finds a city by name and country.
pub(crate) fn city_index(name: &str, country: &str) -> usize {
    CITIES
        .iter()
        .position(|c| c.name == name && c.country == country)
        .unwrap_or(0)
}

/// Finds an ISP by name.
pub(crate) fn isp_index(name: &str) -> usize {
    ISPS.iter().position(|i| i.name == name).unwrap_or(0)
}

/// ISPs of a kind in a country.
pub(crate) fn isps_of(country: &str, kind: IspKind) -> Vec<usize> {
    ISPS.iter()
        .enumerate()
        .filter(|(_, i)| i.country == country && i.kind == kind)
        .map(|(n, _)| n)
        .collect()
}

/// Draws an address inside one of an ISP's blocks (avoids .0 and .255).
pub(crate) fn ip_in(isp: &Isp, r: u64) -> u32 {
    let (a, b, c, d, len) = isp.blocks[(r % isp.blocks.len() as u64) as usize];
    let base = u32::from_be_bytes([a, b, c, d]);
    let host_bits = 32 - len as u32;
    let span = if host_bits >= 32 {
        u32::MAX
    } else {
        (1u32 << host_bits) - 1
    };
    let mut ip = base | ((r >> 8) as u32 & span);
    let last = ip & 0xFF;
    if last == 0 || last == 255 {
        ip = (ip & !0xFF) | (1 + ((r >> 40) as u32 % 250));
    }
    ip
}

/// A Microsoft (or well-known) application id with its display name.
#[derive(Debug)]
pub(crate) struct AppDef {
    pub id: &'static str,
    pub name: &'static str,
}

macro_rules! apps {
    ($($konst:ident = $id:expr, $name:expr;)*) => {
        /// First-party applications (clients and resources), indexed by the constants below.
        pub(crate) static APPS: &[AppDef] = &[$(AppDef { id: $id, name: $name }),*];
        apps!(@consts 0usize, $($konst)*);
    };
    (@consts $n:expr, $konst:ident $($rest:ident)*) => {
        #[allow(dead_code)]
        pub(crate) const $konst: usize = $n;
        apps!(@consts $n + 1usize, $($rest)*);
    };
    (@consts $n:expr,) => {};
}

apps! {
    EXO = "00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online";
    SPO = "00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online";
    GRAPH = "00000003-0000-0000-c000-000000000000", "Microsoft Graph";
    AAD = "00000002-0000-0000-c000-000000000000", "Windows Azure Active Directory";
    ARM = "797f4846-ba00-4fd7-ba43-dac1f8f63013", "Windows Azure Service Management API";
    TEAMS_SVC = "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe", "Microsoft Teams Services";
    SHELL_SERVER = "5f09333a-842c-47da-a157-57da27fcbca5", "Office 365 Shell WCSS-Server";
    OFFICE_HOME = "4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome";
    KEY_VAULT = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093", "Azure Key Vault";
    STORAGE = "e406a681-f3d4-42a8-90b6-c2b029497af1", "Azure Storage";
    SQL = "022907d3-0f1b-48f7-badc-1ba6abab6d66", "Azure SQL Database";
    INTUNE = "0000000a-0000-0000-c000-000000000000", "Microsoft Intune";
    INTUNE_ENROLL = "d4ebce55-015a-49b5-a083-c84d1797ae8c", "Microsoft Intune Enrollment";
    POWER_BI = "00000009-0000-0000-c000-000000000000", "Power BI Service";
    DRS = "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9", "Device Registration Service";
    ACCOUNT_CONTROLS = "7eadcef8-456d-4611-9480-4fff72b8b9e2", "Microsoft Account Controls V2";
    TEAMS = "1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams";
    TEAMS_WEB = "5e3ce6c0-2b1f-4285-8d4b-75ee78787346", "Microsoft Teams Web Client";
    OFFICE = "d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Office";
    OUTLOOK_MOBILE = "27922004-5251-4030-b22d-91ecd9a37ea4", "Outlook Mobile";
    OWA = "9199bf20-a13f-4107-85dc-02114787ef48", "One Outlook Web";
    SHELL_CLIENT = "89bee1f7-5e6e-4d8a-9f3d-ecd601259da7", "Office365 Shell WCSS-Client";
    ONEDRIVE_SYNC = "ab9b8c07-8f02-4f72-87fa-80105867a763", "OneDrive SyncEngine";
    ONEDRIVE_MOBILE = "af124e86-4e96-495a-b70a-90f90ab96707", "OneDrive iOS App";
    BROKER = "29d9ed98-a469-4536-ade2-f981bc1d605e", "Microsoft Authentication Broker";
    WINDOWS_SIGNIN = "38aa3b87-a06d-4817-b275-7a316988d93b", "Windows Sign In";
    AZURE_PORTAL = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Azure Portal";
    AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "Microsoft Azure CLI";
    AZURE_PS = "1950a258-227b-4e31-a9cf-717495945fc2", "Microsoft Azure PowerShell";
    VSCODE = "aebc6443-996d-45c2-90f0-388ff96faa56", "Visual Studio Code";
    EDGE = "ecd6b820-32c2-49b6-98a6-444530e5a77a", "Microsoft Edge";
    MY_SIGNINS = "19db86c3-b2b9-44cc-b339-36da233a3be2", "My Signins";
    MY_APPS = "2793995e-0a7d-40d7-bd35-6968ba142197", "My Apps";
    MY_PROFILE = "8c59ead7-d703-4a27-9e55-c96a0054c8d2", "My Profile";
    COMPANY_PORTAL = "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223", "Microsoft Intune Company Portal";
    AUTHENTICATOR = "4813382a-8fa7-425e-ab75-3b753aab3abb", "Microsoft Authenticator App";
    POWER_BI_DESKTOP = "7f67af8a-fedc-4b08-8b4e-37c4d127b6cf", "Power BI Desktop";
    ADIBIZA = "74658136-14ec-4630-ad9b-26e160ff0fc6", "ADIbizaUX";
    AAD_POWERSHELL = "1b730954-1685-4b74-9bfd-dac224a7b894", "Azure Active Directory PowerShell";
    EXO_POWERSHELL = "fb78d390-0c51-40cd-8e17-fdbfab77341b", "Microsoft Exchange REST API Based Powershell";
    TODO = "22098786-6e16-43cc-a27d-191a01a1e3b5", "Microsoft To-Do client";
    OFFICE_PORTAL = "00000006-0000-0ff1-ce00-000000000000", "Microsoft Office 365 Portal";
}

/// Given names.
pub(crate) static FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Steven",
    "Emily",
    "Andrew",
    "Michelle",
    "Joshua",
    "Amanda",
    "Kevin",
    "Melissa",
    "Brian",
    "Stephanie",
    "George",
    "Rebecca",
    "Oliver",
    "Amelia",
    "Harry",
    "Isla",
    "Jack",
    "Ava",
    "Noah",
    "Mia",
    "Leo",
    "Freya",
    "Lukas",
    "Hannah",
    "Felix",
    "Lena",
    "Jonas",
    "Marie",
    "Paul",
    "Sophie",
    "Maximilian",
    "Lea",
    "Hugo",
    "Chloe",
    "Louis",
    "Camille",
    "Arthur",
    "Manon",
    "Aarav",
    "Priya",
    "Vihaan",
    "Ananya",
    "Arjun",
    "Diya",
    "Rohan",
    "Kavya",
    "Rahul",
    "Sneha",
    "Vikram",
    "Meera",
    "Liam",
    "Charlotte",
    "Ethan",
    "Zoe",
    "Lucas",
    "Grace",
    "Mason",
    "Chen",
    "Wei",
    "Yuki",
    "Haruto",
    "Sakura",
    "Min-jun",
    "Seo-yeon",
    "Mateo",
    "Sofia",
    "Santiago",
    "Valentina",
    "Diego",
    "Lucia",
    "Alejandro",
    "Isabella",
    "Omar",
    "Fatima",
    "Ahmed",
    "Layla",
    "Yusuf",
    "Aisha",
    "Kwame",
    "Amara",
    "Chidi",
    "Ngozi",
    "Sean",
    "Siobhan",
    "Conor",
    "Aoife",
    "Lars",
    "Ingrid",
    "Sven",
    "Astrid",
    "Piotr",
    "Katarzyna",
    "Tomas",
    "Eva",
    "Nikos",
    "Eleni",
    "Dmitri",
    "Olga",
    "Rafael",
    "Beatriz",
    "Jamal",
    "Keisha",
];

/// Family names.
pub(crate) static LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Evans",
    "Hughes",
    "Edwards",
    "Collins",
    "Stewart",
    "Morris",
    "Murphy",
    "Cook",
    "Rogers",
    "Morgan",
    "Cooper",
    "Peterson",
    "Reed",
    "Bailey",
    "Kelly",
    "Howard",
    "Ward",
    "Cox",
    "Richardson",
    "Wood",
    "Watson",
    "Brooks",
    "Bennett",
    "Gray",
    "Price",
    "Patel",
    "Sharma",
    "Singh",
    "Kumar",
    "Gupta",
    "Reddy",
    "Iyer",
    "Nair",
    "Das",
    "Mehta",
    "Muller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schulz",
    "Dubois",
    "Durand",
    "Lefebvre",
    "Moreau",
    "Laurent",
    "Bernard",
    "Petit",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Watanabe",
    "Kim",
    "Park",
    "Choi",
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "O'Brien",
    "O'Connor",
    "Byrne",
    "Walsh",
    "Ryan",
    "Johansson",
    "Larsson",
    "Nowak",
    "Kowalski",
    "Novak",
    "Papadopoulos",
    "Ivanov",
    "Silva",
    "Santos",
    "Oliveira",
    "Okafor",
    "Mensah",
    "Haddad",
    "Khan",
    "Ali",
    "Hassan",
];

/// A department with its job titles and its relative size.
#[derive(Debug)]
pub(crate) struct Dept {
    pub name: &'static str,
    pub weight: u32,
    pub titles: &'static [&'static str],
}

/// Departments.
pub(crate) static DEPTS: &[Dept] = &[
    Dept {
        name: "Engineering",
        weight: 22,
        titles: &[
            "Software Engineer",
            "Senior Software Engineer",
            "Staff Engineer",
            "Engineering Manager",
            "QA Engineer",
            "Site Reliability Engineer",
            "DevOps Engineer",
        ],
    },
    Dept {
        name: "Sales",
        weight: 16,
        titles: &[
            "Account Executive",
            "Sales Development Representative",
            "Regional Sales Manager",
            "Sales Operations Analyst",
        ],
    },
    Dept {
        name: "Marketing",
        weight: 8,
        titles: &[
            "Marketing Manager",
            "Content Strategist",
            "Product Marketing Manager",
            "Digital Marketing Specialist",
        ],
    },
    Dept {
        name: "Finance",
        weight: 7,
        titles: &[
            "Financial Analyst",
            "Accountant",
            "Controller",
            "Accounts Payable Specialist",
        ],
    },
    Dept {
        name: "Human Resources",
        weight: 5,
        titles: &[
            "HR Business Partner",
            "Recruiter",
            "People Operations Specialist",
            "Talent Acquisition Lead",
        ],
    },
    Dept {
        name: "IT",
        weight: 6,
        titles: &[
            "IT Support Specialist",
            "Systems Administrator",
            "Cloud Administrator",
            "Identity Engineer",
            "Service Desk Analyst",
        ],
    },
    Dept {
        name: "Legal",
        weight: 3,
        titles: &["Corporate Counsel", "Paralegal", "Compliance Officer"],
    },
    Dept {
        name: "Operations",
        weight: 10,
        titles: &[
            "Operations Manager",
            "Supply Chain Analyst",
            "Project Manager",
            "Facilities Coordinator",
        ],
    },
    Dept {
        name: "Customer Support",
        weight: 14,
        titles: &[
            "Support Engineer",
            "Customer Success Manager",
            "Support Team Lead",
            "Technical Account Manager",
        ],
    },
    Dept {
        name: "Product",
        weight: 6,
        titles: &[
            "Product Manager",
            "Senior Product Manager",
            "UX Designer",
            "Product Analyst",
        ],
    },
    Dept {
        name: "Executive",
        weight: 1,
        titles: &[
            "Chief Executive Officer",
            "Chief Financial Officer",
            "Chief Technology Officer",
            "VP Operations",
        ],
    },
];

/// Fictional company names for the tenant (name, domain stem).
pub(crate) static COMPANIES: &[(&str, &str)] = &[
    ("Northwind Traders", "northwindtraders"),
    ("Fabrikam Industries", "fabrikamind"),
    ("Tailspin Aerospace", "tailspinaero"),
    ("Woodgrove Financial", "woodgrovefin"),
    ("Litware Systems", "litwaresys"),
    ("Proseware Labs", "prosewarelabs"),
    ("Adventure Works Cycles", "adventureworkscycles"),
    ("Alpine Ski House", "alpineskihouse"),
    ("Wingtip Logistics", "wingtiplogistics"),
    ("Relecloud Health", "relecloudhealth"),
];

/// Partner organisations guests come from (name, domain).
pub(crate) static PARTNERS: &[(&str, &str)] = &[
    ("Contoso Consulting", "contosoconsulting.com"),
    ("Trey Research", "treyresearch.net"),
    ("Blue Yonder Airlines", "blueyonderairlines.com"),
    ("Lucerne Publishing", "lucernepublishing.com"),
    ("Margie's Travel", "margiestravel.com"),
    ("Coho Winery", "cohowinery.com"),
];

/// Human-readable failure reasons for AADSTS codes (as in Entra sign-in logs).
pub(crate) fn failure_reason(code: u32) -> &'static str {
    match code {
        0 => "Other.",
        50126 => "Error validating credentials due to invalid username or password.",
        50053 => "The account is locked, you've tried to sign in too many times with an incorrect user ID or password.",
        50055 => "The password is expired.",
        50057 => "The user account is disabled.",
        50034 => "The user account does not exist in the directory. To sign into this application, the account must be added to the directory.",
        50074 => "Strong Authentication is required.",
        50076 => "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
        50140 => "This error occurred due to 'Keep me signed in' interrupt when the user was signing-in.",
        50125 => "Sign-in was interrupted due to a password reset or password registration entry.",
        50097 => "Device Authentication Required - DeviceId -DeviceAltSecId claims are null OR no device corresponding to the device identifier exists.",
        50058 => "Session information is not sufficient for single-sign-on.",
        50089 => "Flow token expired - Authentication failed.",
        50105 => "Your administrator has configured the application to block users unless they are specifically granted ('assigned') access to the application.",
        50132 => "The session is not valid due to password expiration or recent password change.",
        50133 => "Session is invalid due to expiration or recent password change.",
        50173 => "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
        50199 => "For security reasons, user confirmation is required for this request. Please repeat the request allowing user interaction.",
        53000 => "Device is not in required device state: {state}. Conditional Access policy requires a compliant device, and the device is not compliant. The user must enroll their device with an approved MDM provider like Intune.",
        53003 => "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        500121 => "Authentication failed during strong authentication request.",
        65001 => "The user or administrator has not consented to use the application with ID '{identifier}' named '{appName}'. Send an interactive authorization request for this user and resource.",
        70043 => "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on {issueDate} and the maximum allowed lifetime for this request is {time}.",
        70044 => "The session has expired or is invalid due to sign-in frequency checks by conditional access.",
        700082 => "The refresh token has expired due to inactivity. The token was issued on {issueDate} and was inactive for {time}.",
        700016 => "Application with identifier '{appIdentifier}' was not found in the directory '{tenantName}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
        7000215 => "Invalid client secret is provided.",
        7000222 => "The provided client secret keys are expired. Visit the Azure Portal to create new keys for your app, or consider using certificate credentials for added security.",
        700027 => "Client assertion failed signature validation.",
        16000 => "Either multiple user identities are available for the current request or selected account is not supported for the scenario.",
        81010 => "Seamless SSO failed because the user's Kerberos ticket has expired or is invalid.",
        500011 => "The resource principal named {name} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
        _ => "Other.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_stay_in_their_blocks() {
        for (i, isp) in ISPS.iter().enumerate() {
            for r in [0u64, 1, u64::MAX, 0x1234_5678_9abc_def0] {
                let ip = ip_in(isp, r);
                let ok = isp.blocks.iter().any(|&(a, b, c, d, len)| {
                    let base = u32::from_be_bytes([a, b, c, d]);
                    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                    ip & mask == base & mask
                });
                assert!(ok, "{} outside {}", std::net::Ipv4Addr::from(ip), isp.name);
            }
            if let Some((base, len)) = v6_block(i) {
                let net = v6_subnet((base, len), u64::MAX) | 0xffff;
                let mask = u128::MAX << (128 - len as u32);
                assert_eq!(net & mask, base & mask, "{}", isp.name);
            }
        }
        assert!(v6_block(isp_index("Comcast")).is_some());
    }
}
