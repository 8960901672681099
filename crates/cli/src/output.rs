//! Printing query results as a table, JSON (an array of row objects) or CSV.

use std::io::Write;

use anyhow::Result;
use gatehouse_export::batch_to_json_rows;
use gatehouse_query::QueryResult;
use serde_json::Value;

/// Output formats of `gatehouse sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// A JSON array of row objects.
    Json,
    /// CSV with a header; nested values as JSON text.
    Csv,
}

/// Writes a result in the chosen format.
pub fn write_result(out: &mut dyn Write, result: &QueryResult, format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Table => {
            let table = datafusion_pretty(result)?;
            writeln!(out, "{table}")?;
            writeln!(out, "({} rows)", result.num_rows())?;
        }
        OutputFormat::Json => {
            write!(out, "[")?;
            let mut first = true;
            for batch in &result.batches {
                for row in batch_to_json_rows(batch) {
                    if !first {
                        write!(out, ",")?;
                    }
                    first = false;
                    write!(out, "\n{}", Value::Object(row))?;
                }
            }
            writeln!(out, "{}]", if first { "" } else { "\n" })?;
        }
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let names: Vec<&str> = result
                .schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            w.write_record(&names)?;
            for batch in &result.batches {
                for row in batch_to_json_rows(batch) {
                    let cells: Vec<String> = names
                        .iter()
                        .map(|n| gatehouse_export::cell_text(row.get(*n)))
                        .collect();
                    w.write_record(&cells)?;
                }
            }
            w.flush()?;
        }
    }
    Ok(())
}

fn datafusion_pretty(result: &QueryResult) -> Result<String> {
    if result.batches.is_empty() {
        let names: Vec<&str> = result
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        return Ok(names.join(" | "));
    }
    Ok(arrow::util::pretty::pretty_format_batches(&result.batches)?.to_string())
}
