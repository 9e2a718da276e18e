//! JSON Schema generation from the Rust types.
//!
//! The committed schema files use **JSON Schema Draft 2020-12** (schemars' default). The
//! EventBridge Schema Registry accepts only Draft 4 (or OpenAPI 3) for JSON Schema, so
//! [`registry_schema`] renders the same types as Draft 4 through schemars transforms.

use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::{RecursiveTransform, ReplaceBoolSchemas, ReplaceConstValue};
use serde_json::Value;

use crate::Envelope;
use crate::page_view::{self, PageView};

/// The Draft 4 meta-schema URI.
pub const DRAFT4: &str = "http://json-schema.org/draft-04/schema#";

/// The EventBridge Schema Registry's limit on a schema's content, in characters.
pub const REGISTRY_CONTENT_LIMIT: usize = 100_000;

/// The keyword carrying the SchemaVer of a generated schema.
pub const VERSION_KEYWORD: &str = "x-schemaver";

/// The page-view detail schema (Draft 2020-12): the content of `schema/page-view/v1.json`.
pub fn page_view_schema() -> Value {
    with_version(
        draft2020_12_settings()
            .into_generator()
            .into_root_schema_for::<PageView>(),
    )
}

/// The whole EventBridge event with a page-view detail (Draft 2020-12).
pub fn envelope_schema() -> Value {
    pin_detail_type(with_version(
        draft2020_12_settings()
            .into_generator()
            .into_root_schema_for::<Envelope<PageView>>(),
    ))
}

/// The whole event as the EventBridge Schema Registry accepts it: JSON Schema Draft 4.
pub fn registry_schema() -> Value {
    pin_detail_type(with_version(
        draft4_settings()
            .into_generator()
            .into_root_schema_for::<Envelope<PageView>>(),
    ))
}

/// Any type's schema as Draft 4, through the same transforms as [`registry_schema`].
pub fn draft4_schema_for<T: schemars::JsonSchema>() -> Value {
    draft4_settings()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// An envelope of a page view has `detail-type` [`DETAIL_TYPE`](crate::DETAIL_TYPE).
fn pin_detail_type(mut schema: Value) -> Value {
    if let Some(prop) = schema.pointer_mut("/properties/detail-type") {
        prop["enum"] = serde_json::json!([crate::DETAIL_TYPE]);
    }
    schema
}

/// Draft 2020-12, with closed enums written as `enum`.
fn draft2020_12_settings() -> SchemaSettings {
    SchemaSettings::draft2020_12().with_transform(RecursiveTransform(plain_enums))
}

/// Draft 4 from the Draft 7 preset, plus the transforms for what Draft 4 lacks.
fn draft4_settings() -> SchemaSettings {
    SchemaSettings::draft07().with(|s| {
        s.transforms
            .insert(0, Box::new(RecursiveTransform(plain_enums)));
        s.meta_schema = Some(DRAFT4.into());
        // The Draft 7 preset already removes `$ref` siblings, `prefixItems` and
        // `unevaluatedProperties`.
        let mut bool_schemas = ReplaceBoolSchemas::default();
        bool_schemas.skip_additional_properties = true;
        s.transforms.push(Box::new(ReplaceConstValue::default()));
        s.transforms.push(Box::new(bool_schemas));
        s.transforms
            .push(Box::new(RecursiveTransform(draft4_keywords)));
    })
}

/// Rewrites the keywords whose meaning changed after Draft 4.
///
/// - numeric `exclusiveMinimum`/`exclusiveMaximum` become `minimum`/`maximum` plus a boolean;
/// - `$id` becomes `id`;
/// - `examples` (Draft 6) is dropped.
fn draft4_keywords(schema: &mut Schema) {
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(v @ Value::Number(_)) = schema.remove(exclusive) {
            schema.insert(bound.into(), v);
            schema.insert(exclusive.into(), Value::Bool(true));
        }
    }
    if let Some(id) = schema.remove("$id") {
        schema.insert("id".into(), id);
    }
    schema.remove("examples");
}

/// Rewrites a `oneOf` of documented string constants (schemars' form for an enum whose variants
/// have doc comments) as a plain `enum`, moving the variants' docs into the description.
///
/// The schema is smaller, and a validation error lists the allowed values.
fn plain_enums(schema: &mut Schema) {
    let Some(Value::Array(branches)) = schema.get("oneOf") else {
        return;
    };
    let mut values = Vec::new();
    let mut docs = Vec::new();
    for b in branches {
        let (Some(Value::String(v)), Some("string")) =
            (b.get("const"), b.get("type").and_then(Value::as_str))
        else {
            return;
        };
        if let Some(d) = b.get("description").and_then(Value::as_str) {
            docs.push(format!("`{v}`: {d}"));
        }
        values.push(Value::String(v.clone()));
    }
    schema.remove("oneOf");
    schema.insert("type".into(), "string".into());
    schema.insert("enum".into(), Value::Array(values));
    if !docs.is_empty() {
        let head = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let description = format!("{head}\n\n{}", docs.join("\n")).trim().to_owned();
        schema.insert("description".into(), description.into());
    }
}

fn with_version(schema: Schema) -> Value {
    let mut value = schema.to_value();
    if let Value::Object(map) = &mut value {
        map.insert(
            VERSION_KEYWORD.into(),
            page_view::VERSION.to_string().into(),
        );
    }
    value
}

/// The canonical text of a schema file: pretty-printed JSON, keys sorted, with a final newline.
///
/// Keys are sorted here rather than left to `serde_json::Map`, whose order depends on whether
/// some crate in the build enabled its `preserve_order` feature.
pub fn to_file_text(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(schema)).unwrap_or_default();
    text.push('\n');
    text
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}
