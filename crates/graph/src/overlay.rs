//! Risk decided after sign-ins were stored: the risk engine's verdicts, joined into the sign-in
//! columns a `$filter` looks at (`riskLevelDuringSignIn`, `riskLevelAggregated`, `riskState`,
//! `riskDetail`, `riskEventTypes_v2`), so that filtering on them sees what the pages show.

use std::collections::BTreeMap;

use datafusion::common::ScalarValue;
use datafusion::functions_nested::expr_fn::{array_concat, make_array};
use datafusion::logical_expr::{ident as col, lit, when, Expr};
use datafusion::prelude::DataFrame;

use crate::GraphError;

/// The sign-in properties the overlay replaces.
pub const RISK_PROPERTIES: [&str; 5] = [
    "riskLevelDuringSignIn",
    "riskLevelAggregated",
    "riskState",
    "riskDetail",
    "riskEventTypes_v2",
];

/// One sign-in's risk as the engine decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRisk {
    /// The sign-in's id.
    pub id: String,
    /// `low`, `medium` or `high`.
    pub level: &'static str,
    /// The detections' `riskEventType`s.
    pub types: Vec<String>,
    /// `riskState` now (`atRisk`, `dismissed`, `confirmedCompromised`, …).
    pub state: String,
    /// `riskDetail` now.
    pub detail: String,
}

/// The risk of every sign-in the engine flagged in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInRiskOverlay {
    /// The sign-ins.
    pub sign_ins: Vec<SignInRisk>,
}

fn ids_in(ids: &[&str]) -> Expr {
    col("id").in_list(ids.iter().map(|s| lit(*s)).collect(), false)
}

fn rank(level: &str) -> u8 {
    match level {
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

impl SignInRiskOverlay {
    /// No sign-in is flagged.
    pub fn is_empty(&self) -> bool {
        self.sign_ins.is_empty()
    }

    /// `df` with the risk columns replaced by the stored values joined with the engine's (the
    /// higher level wins, event types are added, the state and detail are the engine's).
    pub(crate) fn apply(&self, df: DataFrame) -> Result<DataFrame, GraphError> {
        let mut by_level: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut by_state: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        let mut by_types: BTreeMap<&[String], Vec<&str>> = BTreeMap::new();
        for s in &self.sign_ins {
            by_level.entry(s.level).or_default().push(&s.id);
            by_state
                .entry((s.state.as_str(), s.detail.as_str()))
                .or_default()
                .push(&s.id);
            by_types.entry(&s.types).or_default().push(&s.id);
        }
        let mut df = df;
        for name in ["riskLevelDuringSignIn", "riskLevelAggregated"] {
            let stored = col(name);
            let mut levels: Vec<_> = by_level.iter().collect();
            levels.sort_by_key(|(l, _)| std::cmp::Reverse(rank(l)));
            let mut expr: Option<datafusion::logical_expr::conditional_expressions::CaseBuilder> =
                None;
            for (level, ids) in levels {
                // The stored level stays when it is higher.
                let higher: Vec<Expr> = ["high", "medium", "low"]
                    .iter()
                    .filter(|l| rank(l) > rank(level))
                    .map(|l| lit(*l))
                    .collect();
                let value = if higher.is_empty() {
                    lit(*level)
                } else {
                    when(stored.clone().in_list(higher, false), stored.clone())
                        .otherwise(lit(*level))
                        .map_err(GraphError::from_datafusion)?
                };
                expr = Some(match expr {
                    None => when(ids_in(ids), value),
                    Some(mut b) => b.when(ids_in(ids), value),
                });
            }
            if let Some(mut b) = expr {
                let e = b.otherwise(stored).map_err(GraphError::from_datafusion)?;
                df = df
                    .with_column(name, e)
                    .map_err(GraphError::from_datafusion)?;
            }
        }
        for (name, pick) in [("riskState", 0), ("riskDetail", 1)] {
            let mut expr: Option<datafusion::logical_expr::conditional_expressions::CaseBuilder> =
                None;
            for ((state, detail), ids) in &by_state {
                let value = lit(if pick == 0 { *state } else { *detail });
                expr = Some(match expr {
                    None => when(ids_in(ids), value),
                    Some(mut b) => b.when(ids_in(ids), value),
                });
            }
            if let Some(mut b) = expr {
                let e = b
                    .otherwise(col(name))
                    .map_err(GraphError::from_datafusion)?;
                df = df
                    .with_column(name, e)
                    .map_err(GraphError::from_datafusion)?;
            }
        }
        let mut expr: Option<datafusion::logical_expr::conditional_expressions::CaseBuilder> = None;
        for (types, ids) in &by_types {
            let added = make_array(types.iter().map(|t| lit(t.as_str())).collect());
            let value = array_concat(vec![
                datafusion::functions::core::expr_fn::coalesce(vec![
                    col("riskEventTypes_v2"),
                    lit(ScalarValue::List(ScalarValue::new_list_nullable(
                        &[],
                        &arrow::datatypes::DataType::Utf8,
                    ))),
                ]),
                added,
            ]);
            expr = Some(match expr {
                None => when(ids_in(ids), value),
                Some(mut b) => b.when(ids_in(ids), value),
            });
        }
        if let Some(mut b) = expr {
            let e = b
                .otherwise(col("riskEventTypes_v2"))
                .map_err(GraphError::from_datafusion)?;
            df = df
                .with_column("riskEventTypes_v2", e)
                .map_err(GraphError::from_datafusion)?;
        }
        Ok(df)
    }
}
