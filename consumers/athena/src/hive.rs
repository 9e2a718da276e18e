//! Hive column types, as the Glue table declares them, to Arrow.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema};
use serde_json::Value;

use crate::QueryError;

/// The Arrow schema of the table's data columns (not the partition keys), from `table.json`.
/// Columns renamed by a SerDe `mapping.COLUMN` parameter get the JSON key's name, as DataFusion
/// reads the JSON keys.
pub fn arrow_schema() -> Result<Schema, QueryError> {
    let table: Value =
        serde_json::from_str(crate::TABLE).map_err(|e| QueryError::Table(e.to_string()))?;
    let types = table["StorageDescriptor"]["Columns"]
        .as_array()
        .ok_or_else(|| QueryError::Table("no columns".into()))?;
    let mut fields = Vec::new();
    for ((name, key), c) in columns()?.into_iter().zip(types) {
        let ty = c["Type"]
            .as_str()
            .ok_or_else(|| QueryError::Table(format!("column {name} has no type")))?;
        fields.push(Field::new(key, parse(ty)?, true));
    }
    Ok(Schema::new(fields))
}

/// The table's data columns, each with the JSON key it is read from (its SerDe
/// `mapping.COLUMN`, or its own name), in order.
pub fn columns() -> Result<Vec<(String, String)>, QueryError> {
    let table: Value =
        serde_json::from_str(crate::TABLE).map_err(|e| QueryError::Table(e.to_string()))?;
    let sd = &table["StorageDescriptor"];
    let params = &sd["SerdeInfo"]["Parameters"];
    let columns = sd["Columns"]
        .as_array()
        .ok_or_else(|| QueryError::Table("no columns".into()))?;
    columns
        .iter()
        .map(|c| {
            let name = c["Name"]
                .as_str()
                .ok_or_else(|| QueryError::Table("a column has no name".into()))?;
            let key = params[format!("mapping.{name}")].as_str().unwrap_or(name);
            Ok((name.to_owned(), key.to_owned()))
        })
        .collect()
}

/// The select list that names the JSON keys' columns as the table does (`"detail-type" AS
/// detail_type`), so the same SQL runs here and on Athena.
pub fn select_list() -> Result<String, QueryError> {
    Ok(columns()?
        .iter()
        .map(|(name, key)| {
            if name == key {
                name.clone()
            } else {
                format!("\"{key}\" AS {name}")
            }
        })
        .collect::<Vec<_>>()
        .join(", "))
}

/// Parses `string`, `boolean`, `bigint`, `int`, `double`, `array<T>`, `struct<name:T,…>`.
fn parse(ty: &str) -> Result<DataType, QueryError> {
    let ty = ty.trim();
    let bad = || QueryError::Table(format!("unsupported hive type {ty:?}"));
    if let Some(inner) = ty.strip_prefix("array<").and_then(|t| t.strip_suffix('>')) {
        return Ok(DataType::List(Arc::new(Field::new(
            "item",
            parse(inner)?,
            true,
        ))));
    }
    if let Some(inner) = ty.strip_prefix("struct<").and_then(|t| t.strip_suffix('>')) {
        let mut fields = Vec::new();
        for part in split_top_level(inner) {
            let (name, t) = part.split_once(':').ok_or_else(bad)?;
            fields.push(Field::new(name.trim(), parse(t)?, true));
        }
        return Ok(DataType::Struct(Fields::from(fields)));
    }
    match ty {
        "string" => Ok(DataType::Utf8),
        "boolean" => Ok(DataType::Boolean),
        "bigint" => Ok(DataType::Int64),
        "int" => Ok(DataType::Int32),
        "double" => Ok(DataType::Float64),
        _ => Err(bad()),
    }
}

/// Splits on commas not inside `<…>`.
fn split_top_level(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0usize, 0usize, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_becomes_an_arrow_schema() {
        let schema = arrow_schema().expect("table.json parses");
        assert!(
            schema.field_with_name("detail-type").is_ok(),
            "the SerDe mapping is applied"
        );
        let DataType::Struct(detail) = schema
            .field_with_name("detail")
            .expect("detail")
            .data_type()
            .clone()
        else {
            panic!("detail is not a struct")
        };
        assert_eq!(
            detail.find("is_bot").map(|(_, f)| f.data_type().clone()),
            Some(DataType::Boolean)
        );
        assert!(matches!(
            schema
                .field_with_name("resources")
                .expect("resources")
                .data_type(),
            DataType::List(_)
        ));
    }

    #[test]
    fn unknown_types_are_refused() {
        assert!(parse("map<string,string>").is_err());
        assert!(parse("struct<a>").is_err());
    }
}
