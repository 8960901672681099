//! Address lists the admin loads (`gatehouse risk lists load FILE`): Tor exit nodes and
//! anonymising VPNs, one address or CIDR block per line; and the networks Gatehouse treats as
//! hosting providers (where people rarely live and attackers often rent machines).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::{Result, RiskError};

/// Where the store keeps the anonymiser list.
pub const ANONYMIZERS_FILE: &str = "risk/anonymizers.txt";

/// Autonomous systems of well-known VPS and hosting providers (DigitalOcean, OVH, Hetzner,
/// Vultr, M247, Linode/Akamai, Contabo, Scaleway, Leaseweb, Choopa, ColoCrossing, DataCamp,
/// CDN77, IONOS, Alibaba, Tencent, Oracle cloud). The big clouds that also host virtual desktops
/// (Microsoft, Amazon, Google) are left out: people do sign in from them.
pub const HOSTING_ASNS: &[i32] = &[
    14061, 16276, 24940, 20473, 9009, 63949, 51167, 12876, 60781, 28753, 36352, 212238, 60068,
    8560, 45102, 132203, 31898, 46562, 53667, 62240, 197540, 25369,
];

/// Whether an autonomous system belongs to a hosting provider.
pub fn is_hosting_asn(asn: i32) -> bool {
    HOSTING_ASNS.contains(&asn)
}

/// A set of addresses and CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpList {
    blocks: Vec<(IpAddr, u8)>,
}

/// A line of a list file that is neither an address nor a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// The text.
    pub text: String,
}

impl IpList {
    /// Parses a list: one address or CIDR block per line, `#` starts a comment, blank lines are
    /// skipped. Lines that are neither are returned with their numbers (and left out).
    pub fn parse(text: &str) -> (IpList, Vec<BadLine>) {
        let mut blocks = Vec::new();
        let mut bad = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            match parse_block(line) {
                Some(b) => blocks.push(b),
                None => bad.push(BadLine {
                    line: n + 1,
                    text: raw.chars().take(200).collect(),
                }),
            }
        }
        blocks.sort();
        blocks.dedup();
        (IpList { blocks }, bad)
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Whether `ip` (text) is on the list.
    pub fn contains(&self, ip: &str) -> bool {
        if self.blocks.is_empty() {
            return false;
        }
        let Ok(addr) = ip.trim().parse::<IpAddr>() else {
            return false;
        };
        self.blocks
            .iter()
            .any(|&(net, len)| in_block(addr, net, len))
    }

    /// The list as text, one block per line.
    pub fn to_text(&self) -> String {
        self.blocks
            .iter()
            .map(|(a, l)| format!("{a}/{l}\n"))
            .collect()
    }

    /// The anonymiser list stored in a data directory (empty when none was loaded).
    pub fn load_anonymizers(data: &Path) -> Result<IpList> {
        let path = data.join(ANONYMIZERS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(IpList::parse(&text).0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(IpList::default()),
            Err(e) => Err(RiskError::Io { path, source: e }),
        }
    }

    /// Stores this list as the data directory's anonymiser list (replacing it atomically).
    pub fn store_anonymizers(&self, data: &Path) -> Result<PathBuf> {
        let path = data.join(ANONYMIZERS_FILE);
        let dir = path.parent().unwrap_or(data).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| RiskError::Io {
            path: dir.clone(),
            source: e,
        })?;
        let tmp = dir.join("anonymizers.txt.tmp");
        std::fs::write(&tmp, self.to_text()).map_err(|e| RiskError::Io {
            path: tmp.clone(),
            source: e,
        })?;
        std::fs::rename(&tmp, &path).map_err(|e| RiskError::Io {
            path: path.clone(),
            source: e,
        })?;
        Ok(path)
    }
}

fn parse_block(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a.trim(), Some(l.trim().parse::<u8>().ok()?)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then(|| (mask(addr, len), len))
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

fn in_block(addr: IpAddr, net: IpAddr, len: u8) -> bool {
    addr.is_ipv4() == net.is_ipv4() && mask(addr, len) == net
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_blocks_and_comments() {
        let (list, bad) = IpList::parse(
            "# Tor exits\n185.220.101.4\n10.0.0.0/8 # internal\n\n2001:db8::/32\nnot-an-ip\n1.2.3.4/33\n",
        );
        assert_eq!(list.len(), 3);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].line, 6);
        assert!(list.contains("185.220.101.4"));
        assert!(!list.contains("185.220.101.5"));
        assert!(list.contains("10.200.1.1"));
        assert!(list.contains("2001:db8:1::5"));
        assert!(!list.contains("2001:db9::1"));
        assert!(!list.contains("garbage"));
    }
}
