//! Measuring detections against labelled ground truth (the simulator's `labels.jsonl`).
//!
//! A detection belongs to the label whose records include the sign-in that triggered it
//! (`requestId`). Per scenario: **recall** is the share of its malicious labels (one per
//! identity) with at least one detection; **precision** is the share of correct detections
//! among those attributed to it plus the false ones of the detection types that exist for it
//! (a false `passwordSpray` counts against `password_spray`). A detection that triggers on a
//! benign look-alike's records, or on no label's, is false. The false detections per 1,000
//! users per day are the alarm rate an analyst would live with.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::detection::RiskEventType;
use crate::scan::StoredDetection;
use crate::{Result, RiskError};

/// One line of `labels.jsonl`.
#[derive(Debug, Clone, Deserialize)]
pub struct LabelRecord {
    /// Scenario name (`password_spray`, `vpn_travel`, …).
    pub scenario: String,
    /// UPN or service principal name.
    pub identity: String,
    /// The ids of the scenario's records for this identity.
    pub record_ids: Vec<String>,
    /// False for benign look-alikes.
    pub malicious: bool,
}

/// Reads `labels.jsonl`, naming the line of any bad record.
pub fn read_labels(path: &Path) -> Result<Vec<LabelRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| RiskError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let label: LabelRecord = serde_json::from_str(line).map_err(|e| {
            RiskError::Invalid(format!("{}:{}: not a label: {e}", path.display(), n + 1))
        })?;
        out.push(label);
    }
    Ok(out)
}

/// The scenario a detection type exists for (`None` for the address reputation types, which
/// serve several).
pub fn primary_scenario(t: RiskEventType) -> Option<&'static str> {
    Some(match t {
        RiskEventType::PasswordSpray => "password_spray",
        RiskEventType::BruteForce => "brute_force",
        RiskEventType::UnlikelyTravel
        | RiskEventType::UnfamiliarFeatures
        | RiskEventType::NewCountry => "credential_theft",
        RiskEventType::MfaFatigue => "mfa_fatigue",
        RiskEventType::LegacyAuthentication => "legacy_protocol",
        RiskEventType::AnomalousToken => "token_replay",
        RiskEventType::SuspiciousWorkloadSignIn => "sp_new_credential",
        RiskEventType::DisabledAccount => "disabled_account",
        RiskEventType::MaliciousIpAddress | RiskEventType::AnonymizedIpAddress => return None,
    })
}

/// The score of one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioScore {
    /// Scenario name.
    pub scenario: String,
    /// An attack (true) or a benign look-alike.
    pub malicious: bool,
    /// Labels (identities) of the scenario.
    pub labels: usize,
    /// Labels with at least one detection on their records.
    pub detected: usize,
    /// Correct detections attributed to it.
    pub true_positives: usize,
    /// False detections of its types.
    pub false_positives: usize,
}

impl ScenarioScore {
    /// Detected labels / labels (malicious scenarios); 1.0 with no labels.
    pub fn recall(&self) -> f64 {
        if self.labels == 0 {
            1.0
        } else {
            self.detected as f64 / self.labels as f64
        }
    }

    /// Correct / (correct + false); 1.0 with no detections.
    pub fn precision(&self) -> f64 {
        let all = self.true_positives + self.false_positives;
        if all == 0 {
            1.0
        } else {
            self.true_positives as f64 / all as f64
        }
    }
}

/// The score of one detection type.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeScore {
    /// `riskEventType`.
    pub event_type: String,
    /// Detections.
    pub detections: usize,
    /// Those on a malicious label's records.
    pub true_positives: usize,
}

/// Scores of a set of detections against labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Per scenario, attacks first.
    pub scenarios: Vec<ScenarioScore>,
    /// Per detection type.
    pub types: Vec<TypeScore>,
    /// Detections on no malicious label's records.
    pub false_positives: usize,
    /// Benign look-alikes that were flagged: (scenario, identity, detection types).
    pub benign_flagged: Vec<(String, String, Vec<String>)>,
    /// False detections per 1,000 users per day.
    pub false_per_thousand_user_days: f64,
}

/// Scores detections against labels; `users` and `days` size the tenant for the alarm rate.
pub fn evaluate(
    labels: &[LabelRecord],
    detections: &[StoredDetection],
    users: u64,
    days: f64,
) -> Evaluation {
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (i, l) in labels.iter().enumerate() {
        for id in &l.record_ids {
            owner.entry(id.as_str()).or_insert(i);
        }
    }
    let mut scenarios: BTreeMap<(bool, String), ScenarioScore> = BTreeMap::new();
    for l in labels {
        let s = scenarios
            .entry((!l.malicious, l.scenario.clone()))
            .or_insert_with(|| ScenarioScore {
                scenario: l.scenario.clone(),
                malicious: l.malicious,
                labels: 0,
                detected: 0,
                true_positives: 0,
                false_positives: 0,
            });
        s.labels += 1;
    }
    let mut detected_labels = vec![false; labels.len()];
    let mut benign: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut types: BTreeMap<String, TypeScore> = BTreeMap::new();
    let mut false_positives = 0;
    for d in detections {
        let ts = types
            .entry(d.event_type.clone())
            .or_insert_with(|| TypeScore {
                event_type: d.event_type.clone(),
                detections: 0,
                true_positives: 0,
            });
        ts.detections += 1;
        let label = owner.get(d.request_id.as_str()).copied();
        match label {
            Some(i) if labels[i].malicious => {
                ts.true_positives += 1;
                detected_labels[i] = true;
                if let Some(s) = scenarios.get_mut(&(false, labels[i].scenario.clone())) {
                    s.true_positives += 1;
                }
            }
            other => {
                false_positives += 1;
                if let Some(i) = other {
                    benign.entry(i).or_default().push(d.event_type.clone());
                }
                let primary = RiskEventType::from_name(&d.event_type).and_then(primary_scenario);
                if let Some(p) = primary {
                    let s =
                        scenarios
                            .entry((false, p.to_string()))
                            .or_insert_with(|| ScenarioScore {
                                scenario: p.to_string(),
                                malicious: true,
                                labels: 0,
                                detected: 0,
                                true_positives: 0,
                                false_positives: 0,
                            });
                    s.false_positives += 1;
                }
            }
        }
    }
    for (i, l) in labels.iter().enumerate() {
        if l.malicious && detected_labels[i] {
            if let Some(s) = scenarios.get_mut(&(false, l.scenario.clone())) {
                s.detected += 1;
            }
        }
    }
    let benign_flagged = benign
        .into_iter()
        .map(|(i, mut t)| {
            t.sort();
            t.dedup();
            (labels[i].scenario.clone(), labels[i].identity.clone(), t)
        })
        .collect();
    let user_days = (users as f64 * days).max(1.0);
    Evaluation {
        scenarios: scenarios.into_values().collect(),
        types: types.into_values().collect(),
        false_positives,
        benign_flagged,
        false_per_thousand_user_days: false_positives as f64 * 1000.0 / user_days,
    }
}

impl std::fmt::Display for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<20} {:>6} {:>8} {:>7} {:>9} {:>4} {:>4}",
            "scenario", "labels", "detected", "recall", "precision", "tp", "fp"
        )?;
        for s in &self.scenarios {
            if s.malicious {
                writeln!(
                    f,
                    "{:<20} {:>6} {:>8} {:>7.3} {:>9.3} {:>4} {:>4}",
                    s.scenario,
                    s.labels,
                    s.detected,
                    s.recall(),
                    s.precision(),
                    s.true_positives,
                    s.false_positives
                )?;
            } else {
                let flagged = self
                    .benign_flagged
                    .iter()
                    .filter(|b| b.0 == s.scenario)
                    .count();
                writeln!(
                    f,
                    "{:<20} {:>6} {:>8} (benign look-alike: {} flagged)",
                    s.scenario, s.labels, "-", flagged
                )?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<22} {:>10} {:>8} {:>9}",
            "detection type", "detections", "correct", "precision"
        )?;
        for t in &self.types {
            let p = if t.detections == 0 {
                1.0
            } else {
                t.true_positives as f64 / t.detections as f64
            };
            writeln!(
                f,
                "{:<22} {:>10} {:>8} {:>9.3}",
                t.event_type, t.detections, t.true_positives, p
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "false detections: {} ({:.3} per 1,000 users per day)",
            self.false_positives, self.false_per_thousand_user_days
        )?;
        for (s, who, types) in &self.benign_flagged {
            writeln!(f, "benign {s} flagged: {who} ({})", types.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(ty: &str, req: &str) -> StoredDetection {
        StoredDetection {
            id: format!("{ty}-{req}"),
            event_type: ty.into(),
            request_id: req.into(),
            level: "medium".into(),
            user_id: String::new(),
            identity: String::new(),
            gatehouse: true,
            detected: 0,
        }
    }

    #[test]
    fn attributes_by_triggering_sign_in() {
        let labels = vec![
            LabelRecord {
                scenario: "brute_force".into(),
                identity: "a@x".into(),
                record_ids: vec!["r1".into(), "r2".into()],
                malicious: true,
            },
            LabelRecord {
                scenario: "password_spray".into(),
                identity: "b@x".into(),
                record_ids: vec!["r3".into()],
                malicious: true,
            },
            LabelRecord {
                scenario: "vpn_travel".into(),
                identity: "c@x".into(),
                record_ids: vec!["r9".into()],
                malicious: false,
            },
        ];
        let e = evaluate(
            &labels,
            &[
                det("bruteForce", "r2"),
                det("bruteForce", "zz"),
                det("unlikelyTravel", "r9"),
            ],
            100,
            10.0,
        );
        let brute = e
            .scenarios
            .iter()
            .find(|s| s.scenario == "brute_force")
            .unwrap();
        assert_eq!(
            (brute.detected, brute.true_positives, brute.false_positives),
            (1, 1, 1)
        );
        assert_eq!(brute.recall(), 1.0);
        assert_eq!(brute.precision(), 0.5);
        let spray = e
            .scenarios
            .iter()
            .find(|s| s.scenario == "password_spray")
            .unwrap();
        assert_eq!(spray.recall(), 0.0);
        let theft = e
            .scenarios
            .iter()
            .find(|s| s.scenario == "credential_theft")
            .unwrap();
        assert_eq!(theft.false_positives, 1);
        assert_eq!(e.false_positives, 2);
        assert_eq!(e.benign_flagged.len(), 1);
        assert!((e.false_per_thousand_user_days - 2.0).abs() < 1e-9);
    }
}
