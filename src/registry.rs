//! Publishing the page-view schema to the EventBridge Schema Registry.

use aws_sdk_schemas::Client;
use aws_sdk_schemas::types::Type;
use serde_json::Value;

/// The schema's name in the registry, `source@DetailType` as EventBridge names discovered schemas.
pub const SCHEMA_NAME: &str = "tally@PageView";

/// What [`publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Whether the registry had to be created.
    pub registry_created: bool,
    /// What happened to the schema.
    pub action: Action,
    /// The registry's version of the schema after publishing.
    pub version: String,
}

/// What happened to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// It did not exist and was created.
    Created,
    /// It existed with other content and was updated to a new version.
    Updated,
    /// It existed with the same content: nothing was written.
    Unchanged,
}

/// Creates the registry if it is missing, then creates or updates the schema with `content`.
///
/// Content is compared as JSON, so formatting the registry applies does not count as a change.
pub async fn publish(client: &Client, registry: &str, content: &str) -> anyhow::Result<Published> {
    let registry_created = match client
        .describe_registry()
        .registry_name(registry)
        .send()
        .await
    {
        Ok(_) => false,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            client
                .create_registry()
                .registry_name(registry)
                .description("Tally page-view events")
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("cannot create registry {registry:?}: {}", error_text(&e))
                })?;
            true
        }
        Err(e) => anyhow::bail!("cannot describe registry {registry:?}: {}", error_text(&e)),
    };

    let existing = match client
        .describe_schema()
        .registry_name(registry)
        .schema_name(SCHEMA_NAME)
        .send()
        .await
    {
        Ok(out) => Some(out),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            None
        }
        Err(e) => anyhow::bail!("cannot describe schema {SCHEMA_NAME:?}: {}", error_text(&e)),
    };

    let (action, version) = match existing {
        Some(out) if same_json(out.content(), content) => (
            Action::Unchanged,
            out.schema_version().unwrap_or_default().to_owned(),
        ),
        Some(_) => {
            let out = client
                .update_schema()
                .registry_name(registry)
                .schema_name(SCHEMA_NAME)
                .r#type(Type::JsonSchemaDraft4)
                .content(content)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("cannot update schema {SCHEMA_NAME:?}: {}", error_text(&e))
                })?;
            (
                Action::Updated,
                out.schema_version().unwrap_or_default().to_owned(),
            )
        }
        None => {
            let out = client
                .create_schema()
                .registry_name(registry)
                .schema_name(SCHEMA_NAME)
                .r#type(Type::JsonSchemaDraft4)
                .description("A page view seen by Tally (tally schema export --registry-format)")
                .content(content)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("cannot create schema {SCHEMA_NAME:?}: {}", error_text(&e))
                })?;
            (
                Action::Created,
                out.schema_version().unwrap_or_default().to_owned(),
            )
        }
    };
    Ok(Published {
        registry_created,
        action,
        version,
    })
}

fn same_json(existing: Option<&str>, new: &str) -> bool {
    let parse = |s: &str| serde_json::from_str::<Value>(s).ok();
    match (existing.and_then(parse), parse(new)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The SDK error with its sources, on one line.
pub(crate) fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
