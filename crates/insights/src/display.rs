//! Reports as text for a terminal: a heading with the period, then aligned tables.

use std::fmt;

use crate::explain::Explanation;
use crate::questions::{
    ApplicationsReport, ClientCount, ClientsReport, FailuresReport, Tally, WorkloadsReport,
};
use crate::Period;

/// An aligned table: a header row and rows of cells, numbers right-aligned.
struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: Vec<&'static str>) -> Table {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.rows.is_empty() {
            return writeln!(f, "  (none)");
        }
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([self.header[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..self.header.len())
            .map(|c| {
                self.rows
                    .iter()
                    .all(|r| r[c].chars().all(|ch| ch.is_ascii_digit() || ch == ','))
            })
            .collect();
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| -> fmt::Result {
            write!(f, " ")?;
            for (c, cell) in cells.iter().enumerate() {
                let pad = widths[c] - cell.chars().count();
                if numeric[c] {
                    write!(f, " {}{}", " ".repeat(pad), cell)?;
                } else if c + 1 == cells.len() {
                    // No trailing blanks after the last column.
                    write!(f, " {cell}")?;
                } else {
                    write!(f, " {}{}", cell, " ".repeat(pad))?;
                }
            }
            writeln!(f)
        };
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        line(f, &header)?;
        for r in &self.rows {
            line(f, r)?;
        }
        Ok(())
    }
}

/// `1234567` → `1,234,567`.
fn n(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn or_none(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "(not reported)".into())
}

fn heading(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    period: &Period,
    types: &[&str],
) -> fmt::Result {
    writeln!(
        f,
        "{title}, {} to {} (UTC; {})",
        period.from.format("%Y-%m-%d %H:%M"),
        period.to.format("%Y-%m-%d %H:%M"),
        types.join(", ")
    )
}

impl fmt::Display for ApplicationsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        heading(
            f,
            "Users who signed into applications",
            &self.period,
            &self.sign_in_types,
        )?;
        let t = &self.total;
        writeln!(
            f,
            "{} users, {} sign-ins ({} succeeded, {} interrupted, {} failed) over {} applications",
            n(t.users),
            n(t.sign_ins),
            n(t.succeeded),
            n(t.interrupted),
            n(t.failed),
            n(self.applications_used)
        )?;
        let mut table = Table::new(vec![
            "application",
            "users",
            "sign-ins",
            "succeeded",
            "interrupted",
            "failed",
            "app id",
        ]);
        for a in &self.applications {
            let c = &a.counts;
            table.row(vec![
                or_none(&a.app_display_name),
                n(c.users),
                n(c.sign_ins),
                n(c.succeeded),
                n(c.interrupted),
                n(c.failed),
                or_none(&a.app_id),
            ]);
        }
        write!(f, "{table}")
    }
}

fn tallies(f: &mut fmt::Formatter<'_>, title: &'static str, items: &[Tally]) -> fmt::Result {
    writeln!(f, "By {title}:")?;
    let named = items.iter().any(|t| t.name.is_some());
    let mut table = Table::new(if named {
        vec![title, "failures", "name"]
    } else {
        vec![title, "failures"]
    });
    for t in items {
        let mut row = vec![or_none(&t.value), n(t.failures)];
        if named {
            row.push(t.name.clone().unwrap_or_default());
        }
        table.row(row);
    }
    write!(f, "{table}")
}

impl fmt::Display for FailuresReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        heading(f, "Failed sign-ins", &self.period, &self.sign_in_types)?;
        writeln!(
            f,
            "{} failed sign-ins by {} users ({} more were interrupted: MFA prompts and the like)",
            n(self.failures),
            n(self.users),
            n(self.interrupted)
        )?;
        writeln!(f, "By error code:")?;
        let mut table = Table::new(vec!["code", "failures", "users", "meaning"]);
        for c in &self.by_error_code {
            table.row(vec![
                c.code.code.to_string(),
                n(c.failures),
                n(c.users),
                match c.code.name {
                    Some(name) => format!("{name}: {}", c.code.meaning),
                    None => c.code.meaning.clone(),
                },
            ]);
        }
        write!(f, "{table}")?;
        tallies(f, "user", &self.by_user)?;
        tallies(f, "application", &self.by_application)?;
        tallies(f, "IP address", &self.by_ip_address)?;
        tallies(f, "country", &self.by_country)
    }
}

fn clients(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    items: &[ClientCount],
    (browser, os): (bool, bool),
) -> fmt::Result {
    writeln!(f, "{title}:")?;
    let mut header = Vec::new();
    if browser {
        header.push("browser");
    }
    if os {
        header.push("operating system");
    }
    header.extend(["sign-ins", "users"]);
    let mut table = Table::new(header);
    for c in items {
        let mut row = Vec::new();
        if browser {
            row.push(or_none(&c.browser));
        }
        if os {
            row.push(or_none(&c.operating_system));
        }
        row.push(n(c.sign_ins));
        row.push(n(c.users));
        table.row(row);
    }
    write!(f, "{table}")
}

impl fmt::Display for ClientsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        heading(
            f,
            "Browsers and operating systems",
            &self.period,
            &self.sign_in_types,
        )?;
        writeln!(f, "{} sign-ins", n(self.sign_ins))?;
        clients(f, "Browsers", &self.browsers, (true, false))?;
        clients(
            f,
            "Operating systems",
            &self.operating_systems,
            (false, true),
        )?;
        clients(f, "Browser and operating system", &self.pairs, (true, true))
    }
}

impl fmt::Display for WorkloadsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        heading(
            f,
            "Resources accessed by workload identities",
            &self.period,
            &self.sign_in_types,
        )?;
        writeln!(f, "{} identities signed in", n(self.identities_seen))?;
        for id in &self.identities {
            writeln!(
                f,
                "{} ({}, {}): {} sign-ins, {} failed, {} to {}",
                or_none(&id.service_principal_name),
                id.sign_in_type,
                or_none(&id.service_principal_id),
                n(id.sign_ins),
                n(id.failures),
                id.first_access.as_deref().unwrap_or("?"),
                id.last_access.as_deref().unwrap_or("?"),
            )?;
            let mut table = Table::new(vec!["resource", "sign-ins", "failed", "first", "last"]);
            for r in &id.resources {
                table.row(vec![
                    or_none(&r.resource_display_name),
                    n(r.sign_ins),
                    n(r.failures),
                    r.first_access.clone().unwrap_or_default(),
                    r.last_access.clone().unwrap_or_default(),
                ]);
            }
            write!(f, "{table}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let d = &self.diagnosis;
        writeln!(
            f,
            "Sign-in {} at {}",
            opt(&self.id),
            opt(&self.created_date_time)
        )?;
        writeln!(f, "{}", d.summary)?;
        let w = &self.who;
        writeln!(f, "\nWho")?;
        writeln!(f, "  type               {}", w.kind)?;
        writeln!(f, "  name               {}", opt(&w.display_name))?;
        if w.kind == "user" {
            writeln!(f, "  user principal     {}", opt(&w.user_principal_name))?;
            writeln!(f, "  user type          {}", opt(&w.user_type))?;
        }
        writeln!(f, "  id                 {}", opt(&w.id))?;
        if let Some(t) = &w.managed_identity_type {
            writeln!(
                f,
                "  managed identity   {t} ({})",
                opt(&w.associated_resource_id)
            )?;
        }
        if let Some(k) = &w.credential_key_id {
            writeln!(f, "  credential key     {k}")?;
        }
        let h = &self.how;
        writeln!(f, "\nHow")?;
        writeln!(f, "  sign-in type       {}", opt(&h.sign_in_type))?;
        writeln!(
            f,
            "  application        {} ({})",
            opt(&h.app_display_name),
            opt(&h.app_id)
        )?;
        writeln!(
            f,
            "  client app         {}{}",
            opt(&h.client_app_used),
            if h.legacy_authentication {
                " (legacy authentication)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "  protocol           {}",
            opt(&h.authentication_protocol)
        )?;
        writeln!(
            f,
            "  requirement        {}",
            opt(&h.authentication_requirement)
        )?;
        for s in &h.authentication_steps {
            writeln!(
                f,
                "  step               {} / {}: {} ({})",
                opt(&s.requirement),
                opt(&s.method),
                match s.succeeded {
                    Some(true) => "succeeded",
                    Some(false) => "failed",
                    None => "?",
                },
                opt(&s.result)
            )?;
        }
        writeln!(
            f,
            "  from               {} {}",
            opt(&h.ip_address),
            h.location
                .as_deref()
                .map(|l| format!("({l})"))
                .unwrap_or_default()
        )?;
        writeln!(
            f,
            "  client             {} on {}{}",
            opt(&h.browser),
            opt(&h.operating_system),
            h.device
                .as_deref()
                .map(|d| format!(", device {d}"))
                .unwrap_or_default()
        )?;
        writeln!(f, "\nWhat")?;
        writeln!(
            f,
            "  resource           {} ({})",
            opt(&self.what.resource_display_name),
            opt(&self.what.resource_id)
        )?;
        writeln!(f, "\nWhy")?;
        writeln!(
            f,
            "  outcome            {}",
            match d.outcome {
                crate::Outcome::Success => "success",
                crate::Outcome::Interrupted => "interrupted (an expected step, not a failure)",
                crate::Outcome::Failure => "failure",
            }
        )?;
        writeln!(
            f,
            "  error              {}{}",
            d.error.code,
            d.error.name.map(|n| format!(" {n}")).unwrap_or_default()
        )?;
        writeln!(f, "  meaning            {}", d.error.meaning)?;
        if let Some(r) = &d.failure_reason {
            writeln!(f, "  log says           {r}")?;
        }
        if let Some(r) = &d.additional_details {
            writeln!(f, "  details            {r}")?;
        }
        writeln!(
            f,
            "  conditional access {}",
            opt(&d.conditional_access_status)
        )?;
        for p in &d.deciding_policies {
            writeln!(
                f,
                "    {}: {}{}",
                p.result,
                opt(&p.display_name),
                if p.grant_controls.is_empty() {
                    String::new()
                } else {
                    format!(" (grant: {})", p.grant_controls.join(", "))
                }
            )?;
        }
        if let Some(r) = &d.risk {
            writeln!(f, "  risk               {r}")?;
        }
        writeln!(f, "\nWhat to do")?;
        for a in &d.actions {
            writeln!(f, "  - {a}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_thousands_separators_and_align_right() {
        assert_eq!(n(0), "0");
        assert_eq!(n(999), "999");
        assert_eq!(n(1000), "1,000");
        assert_eq!(n(1_234_567), "1,234,567");
        let mut t = Table::new(vec!["name", "n"]);
        t.row(vec!["a".into(), "1,000".into()]);
        t.row(vec!["bbb".into(), "5".into()]);
        assert_eq!(t.to_string(), "  name     n\n  a    1,000\n  bbb      5\n");
    }
}
