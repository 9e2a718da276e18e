//! The committed examples against the types, the generated schemas and the check rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use jsonschema::Draft;
use serde_json::{Value, json};
use tally_schema::check::{self, Example, Problem, Release, Tree};
use tally_schema::generate::{self, REGISTRY_CONTENT_LIMIT};
use tally_schema::validate::{Compiled, PageViewValidator};
use tally_schema::{Envelope, PageView, SchemaVer};

fn examples(kind: &str) -> Vec<(PathBuf, String)> {
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("page-view/examples")
            .join(kind);
    let mut out: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no examples in {}", dir.display());
    out
}

fn parsed(kind: &str) -> Vec<(PathBuf, Value)> {
    examples(kind)
        .into_iter()
        .filter_map(|(p, t)| serde_json::from_str(&t).ok().map(|v| (p, v)))
        .collect()
}

/// Wraps a detail in an envelope, so that every example can be checked against the registry's
/// whole-event schema.
fn as_event(record: &Value) -> Value {
    if record.get("detail").is_some() || record.get("detail-type").is_some() {
        return record.clone();
    }
    json!({
        "version": "0", "id": "5f8a2b4e-0000-4000-8000-000000000000", "detail-type": "PageView",
        "source": "tally", "account": "123456789012", "time": "2026-11-29T06:40:19Z",
        "region": "us-east-1", "resources": [], "detail": record,
    })
}

#[test]
fn valid_examples_round_trip_through_the_types() {
    for (path, value) in parsed("valid") {
        let reserialized = if value.get("detail").is_some() {
            let event: Envelope<PageView> = serde_json::from_value(value.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let text = serde_json::to_string(&event).unwrap();
            let again: Envelope<PageView> = serde_json::from_str(&text).unwrap();
            assert_eq!(again, event, "{}", path.display());
            serde_json::to_value(&again).unwrap()
        } else {
            let detail: PageView = serde_json::from_value(value.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let text = serde_json::to_string(&detail).unwrap();
            let again: PageView = serde_json::from_str(&text).unwrap();
            assert_eq!(again, detail, "{}", path.display());
            serde_json::to_value(&again).unwrap()
        };
        // Nothing is lost or added on the way through the types.
        assert_eq!(
            reserialized,
            value,
            "{} changes in a round trip",
            path.display()
        );
    }
}

#[test]
fn every_valid_example_validates_and_every_invalid_one_does_not() {
    let v = PageViewValidator::new().unwrap();
    for (path, value) in parsed("valid") {
        assert_eq!(v.validate(&value), vec![], "{}", path.display());
        assert!(v.is_valid(&value), "{}", path.display());
    }
    for (path, text) in examples("invalid") {
        let report = v.validate_document(&text);
        assert!(
            !report.errors.is_empty(),
            "{} passes validation",
            path.display()
        );
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            assert!(!v.is_valid(&value), "{} passes is_valid", path.display());
        }
    }
}

#[test]
fn invalid_examples_fail_for_the_rule_they_are_named_for() {
    let v = PageViewValidator::new().unwrap();
    // A few names point at a field; the violation must be about that field.
    let cases = [
        ("country-lowercase", "/country"),
        ("path-too-long", "/path"),
        ("occurred-at-no-millis", "/occurred_at"),
        ("device-not-in-enum", "/device"),
        ("envelope-detail-invalid", "/detail/country"),
        ("envelope-wrong-detail-type", "/detail-type"),
        ("utm-campaign-too-long", "/utm_campaign"),
    ];
    for (name, pointer) in cases {
        let (_, value) = parsed("invalid")
            .into_iter()
            .find(|(p, _)| p.file_stem().unwrap() == name)
            .unwrap_or_else(|| panic!("no invalid example {name}"));
        let violations = v.validate(&value);
        assert!(
            violations.iter().all(|x| x.pointer == pointer),
            "{name}: {violations:?}"
        );
    }
    let (_, ip) = parsed("invalid")
        .into_iter()
        .find(|(p, _)| p.ends_with("ip-address-field.json"))
        .unwrap();
    assert!(v.validate(&ip)[0].reason.contains("'ip' was unexpected"));
}

#[test]
fn registry_export_is_draft4_under_the_size_limit_and_agrees_with_the_examples() {
    let schema = generate::registry_schema();
    let text = generate::to_file_text(&schema);
    assert!(
        text.chars().count() <= REGISTRY_CONTENT_LIMIT,
        "{} characters",
        text.len()
    );
    assert_eq!(schema["$schema"], generate::DRAFT4);
    assert!(
        jsonschema::draft4::meta::is_valid(&schema),
        "not a valid draft 4 schema"
    );
    for keyword in [
        "\"$defs\"",
        "\"const\"",
        "\"$id\"",
        "\"examples\"",
        "\"if\"",
    ] {
        assert!(
            !text.contains(keyword),
            "registry export still uses {keyword}"
        );
    }
    let draft4 = Compiled::new(schema, Draft::Draft4).unwrap();
    for (path, value) in parsed("valid") {
        assert_eq!(
            draft4.violations(&as_event(&value), ""),
            vec![],
            "{}",
            path.display()
        );
    }
    for (path, value) in parsed("invalid") {
        assert!(
            !draft4.is_valid(&as_event(&value)),
            "{} passes draft 4",
            path.display()
        );
    }
}

#[test]
fn draft4_transform_rewrites_numeric_exclusive_bounds() {
    // No field of v1 has an exclusive bound yet; a later one must still export as Draft 4.
    fn exclusive(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10})
    }
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Bounded {
        #[schemars(schema_with = "exclusive")]
        n: u8,
    }
    let schema = generate::draft4_schema_for::<Bounded>();
    let n = &schema["properties"]["n"];
    assert_eq!(n["minimum"], 0);
    assert_eq!(n["exclusiveMinimum"], true);
    assert_eq!(n["maximum"], 10);
    assert_eq!(n["exclusiveMaximum"], true);
    let v = Compiled::new(schema, Draft::Draft4).unwrap();
    assert!(v.is_valid(&json!({"n": 5})));
    assert!(!v.is_valid(&json!({"n": 0})));
    assert!(!v.is_valid(&json!({"n": 10})));
}

fn release_from_valid_examples() -> Release {
    Release {
        version: "1-0-0".parse().unwrap(),
        examples: parsed("valid")
            .into_iter()
            .map(|(p, v)| Example {
                name: p.display().to_string(),
                value: Ok(v),
            })
            .collect(),
    }
}

fn incompatible_fields(schema: &Value) -> Vec<String> {
    let v = PageViewValidator::for_detail_schema(schema).unwrap();
    check::compatibility(&v, &[release_from_valid_examples()])
        .into_iter()
        .map(|p| match p {
            Problem::Incompatible { field, .. } => field,
            other => panic!("unexpected {other}"),
        })
        .collect()
}

#[test]
fn the_current_schema_accepts_every_frozen_example() {
    assert_eq!(
        incompatible_fields(&generate::page_view_schema()),
        Vec::<String>::new()
    );
}

#[test]
fn a_changed_field_type_is_named_as_a_breaking_change() {
    let mut schema = generate::page_view_schema();
    schema["properties"]["country"] = json!({"type": "integer"});
    let fields = incompatible_fields(&schema);
    assert!(fields.contains(&"country".to_owned()), "{fields:?}");
    assert!(fields.contains(&"detail.country".to_owned()), "{fields:?}");
    assert!(fields.iter().all(|f| f.ends_with("country")), "{fields:?}");
}

#[test]
fn a_new_required_field_is_named_as_a_breaking_change() {
    let mut schema = generate::page_view_schema();
    schema["properties"]["screen_width"] = json!({"type": "integer"});
    schema["required"]
        .as_array_mut()
        .unwrap()
        .push(json!("screen_width"));
    let fields = incompatible_fields(&schema);
    assert!(!fields.is_empty());
    assert!(
        fields.iter().all(|f| f.ends_with("screen_width")),
        "{fields:?}"
    );
}

#[test]
fn a_removed_field_is_named_as_a_breaking_change() {
    let mut schema = generate::page_view_schema();
    schema["properties"]
        .as_object_mut()
        .unwrap()
        .remove("utm_term");
    let fields = incompatible_fields(&schema);
    assert!(!fields.is_empty());
    assert!(fields.iter().all(|f| f.ends_with("utm_term")), "{fields:?}");
}

#[test]
fn an_optional_addition_is_compatible() {
    let mut schema = generate::page_view_schema();
    schema["properties"]["screen_width"] = json!({"type": "integer"});
    assert_eq!(incompatible_fields(&schema), Vec::<String>::new());
}

#[test]
fn check_reports_a_stale_schema_with_the_regenerate_command() {
    let mut tree = Tree {
        committed_schema: Some("{}\n".into()),
        valid: vec![Example {
            name: "v".into(),
            value: Ok(parsed("valid")[0].1.clone()),
        }],
        invalid: vec![Example {
            name: "i".into(),
            value: Ok(json!({})),
        }],
        releases: vec![],
    };
    let problems = check::check(&tree);
    assert_eq!(
        problems,
        vec![Problem::Stale {
            file: check::SCHEMA_FILE.into()
        }]
    );
    assert!(problems[0].to_string().contains(check::REGENERATE_COMMAND));

    tree.committed_schema = Some(generate::to_file_text(&generate::page_view_schema()));
    assert_eq!(check::check(&tree), vec![]);
}

#[test]
fn check_reports_misfiled_examples_and_releases_ahead() {
    let good = parsed("valid")[0].1.clone();
    let tree = Tree {
        committed_schema: Some(generate::to_file_text(&generate::page_view_schema())),
        valid: vec![Example {
            name: "valid/bad.json".into(),
            value: Ok(json!({"path": 1})),
        }],
        invalid: vec![Example {
            name: "invalid/good.json".into(),
            value: Ok(good),
        }],
        releases: vec![Release {
            version: SchemaVer {
                model: 1,
                revision: 9,
                addition: 0,
            },
            examples: vec![],
        }],
    };
    let problems = check::check(&tree);
    assert!(
        matches!(&problems[0], Problem::ValidRejected { example, .. } if example == "valid/bad.json")
    );
    assert!(
        matches!(&problems[1], Problem::InvalidAccepted { example } if example == "invalid/good.json")
    );
    assert!(matches!(&problems[2], Problem::ReleaseAhead(_)));
    assert_eq!(problems.len(), 3);
}

#[test]
fn ndjson_with_one_bad_line_among_a_thousand_names_that_line() {
    let v = PageViewValidator::new().unwrap();
    let (_, minimal) = parsed("valid")
        .into_iter()
        .find(|(p, _)| p.ends_with("minimal.json"))
        .unwrap();
    let good = serde_json::to_string(&minimal).unwrap();
    let mut lines = vec![good; 1000];
    lines[536] = lines[536].replace("\"device\":\"unknown\"", "\"device\":\"toaster\"");
    let report = v.validate_document(&lines.join("\n"));
    assert_eq!(report.records, 1000);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].line, 537);
    assert_eq!(report.errors[0].violation.pointer, "/device");

    // A line that is not JSON is reported, and the lines after it are still read.
    lines[536] = "{not json".into();
    lines[900] = "[]".into();
    let report = v.validate_document(&(lines.join("\n") + "\n\n"));
    assert_eq!(report.records, 1000);
    let bad: Vec<usize> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(bad, vec![537, 901]);
}

#[test]
fn a_pretty_printed_document_is_one_record() {
    let v = PageViewValidator::new().unwrap();
    let (_, text) = examples("valid").into_iter().next().unwrap();
    assert!(text.lines().count() > 5);
    assert_eq!(
        v.validate_document(&text),
        tally_schema::validate::Report {
            records: 1,
            errors: vec![]
        }
    );
}
