//! The Glue table (`table.json`) as Athena needs it: every column, struct field and partition
//! key a lower-case name of letters, digits and underscores (no hyphen: Athena refuses it), and
//! every SerDe `mapping.COLUMN` naming a column that exists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

fn valid(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The field names inside a hive type (`struct<a:string,b:array<struct<c:int>>>`).
fn struct_fields(ty: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut word = String::new();
    for c in ty.chars() {
        match c {
            ':' => names.push(std::mem::take(&mut word)),
            '<' | ',' | '>' => word.clear(),
            _ => word.push(c),
        }
    }
    names.into_iter().map(|n| n.trim().to_owned()).collect()
}

#[test]
fn every_name_is_one_athena_accepts_and_every_mapping_names_a_column() {
    let table: Value = serde_json::from_str(tally_athena::TABLE).unwrap();
    let sd = &table["StorageDescriptor"];
    let mut names: Vec<String> = Vec::new();
    let mut columns = Vec::new();
    for c in sd["Columns"].as_array().unwrap() {
        let name = c["Name"].as_str().unwrap().to_owned();
        names.extend(struct_fields(c["Type"].as_str().unwrap()));
        columns.push(name.clone());
        names.push(name);
    }
    for k in table["PartitionKeys"].as_array().unwrap() {
        names.push(k["Name"].as_str().unwrap().to_owned());
    }
    let bad: Vec<&String> = names.iter().filter(|n| !valid(n)).collect();
    assert!(bad.is_empty(), "names Athena refuses: {bad:?}");
    assert!(names.len() > 20, "the struct's fields were read: {names:?}");
    let params = sd["SerdeInfo"]["Parameters"].as_object().unwrap();
    for key in params.keys() {
        if let Some(column) = key.strip_prefix("mapping.") {
            assert!(
                columns.iter().any(|c| c == column),
                "{key} names no column of {columns:?}"
            );
        }
    }
}

#[test]
fn the_check_refuses_what_athena_refuses() {
    assert!(valid("detail_type") && valid("utm_source") && valid("_x1"));
    assert!(!valid("detail-type") && !valid("Detail") && !valid("1st") && !valid(""));
    assert_eq!(
        struct_fields("struct<a:string,b:array<struct<c:int>>>"),
        ["a", "b", "c"]
    );
}
