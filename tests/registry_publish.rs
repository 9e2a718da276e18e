//! `tally schema publish` against recorded Schema Registry responses.
//!
//! No server here can stand in for the EventBridge Schema Registry (moto does not implement the
//! `schemas` API), so these tests use the SDK's own test utility, `StaticReplayClient`: each
//! request the SDK makes is answered with the recorded response, and the requests are checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_schemas::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};
use tally::registry::{self, Action, Published};
use tally_schema::generate;

const BASE: &str = "https://schemas.us-east-1.amazonaws.com/v1/registries/name/tally";

fn event(method: &str, path: &str, status: u16, body: Value) -> ReplayEvent {
    let request = http::Request::builder()
        .method(method)
        .uri(format!("{BASE}{path}"))
        .body(SdkBody::empty())
        .unwrap();
    let mut response = http::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if status == 404 {
        response = response.header("x-amzn-errortype", "NotFoundException");
    }
    ReplayEvent::new(
        request,
        response.body(SdkBody::from(body.to_string())).unwrap(),
    )
}

fn client(http: &StaticReplayClient) -> aws_sdk_schemas::Client {
    let config = aws_sdk_schemas::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .http_client(http.clone())
        .build();
    aws_sdk_schemas::Client::from_conf(config)
}

fn content() -> String {
    generate::to_file_text(&generate::registry_schema())
}

fn requests(http: &StaticReplayClient) -> Vec<(String, String, Option<Value>)> {
    http.actual_requests()
        .map(|r| {
            let body = r
                .body()
                .bytes()
                .filter(|b| !b.is_empty())
                .map(|b| serde_json::from_slice(b).unwrap());
            (r.method().to_owned(), r.uri().replace(BASE, ""), body)
        })
        .collect()
}

fn not_found() -> Value {
    json!({"Code": "NotFoundException", "Message": "not found"})
}

#[tokio::test]
async fn creates_the_registry_and_the_schema_when_missing() {
    let schema_path = "/schemas/name/tally@PageView";
    let http = StaticReplayClient::new(vec![
        event("GET", "", 404, not_found()),
        event("POST", "", 201, json!({"RegistryName": "tally"})),
        event("GET", schema_path, 404, not_found()),
        event(
            "POST",
            schema_path,
            201,
            json!({"SchemaName": "tally@PageView", "SchemaVersion": "1"}),
        ),
    ]);
    let published = registry::publish(&client(&http), "tally", &content())
        .await
        .unwrap();
    assert_eq!(
        published,
        Published {
            registry_created: true,
            action: Action::Created,
            version: "1".into()
        }
    );

    let reqs = requests(&http);
    let calls: Vec<(&str, &str)> = reqs
        .iter()
        .map(|(m, p, _)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(calls[0], ("GET", ""));
    assert_eq!(calls[1], ("POST", ""));
    assert_eq!(calls[2].0, "GET");
    assert!(calls[2].1.starts_with("/schemas/name/tally"), "{calls:?}");
    let body = reqs[3].2.as_ref().unwrap();
    assert_eq!(body["Type"], "JSONSchemaDraft4");
    let sent: Value = serde_json::from_str(body["Content"].as_str().unwrap()).unwrap();
    assert_eq!(sent, generate::registry_schema());
    assert!(body["Content"].as_str().unwrap().len() <= generate::REGISTRY_CONTENT_LIMIT);
}

#[tokio::test]
async fn does_nothing_when_the_content_is_unchanged() {
    // The registry may reformat the content: compact here, pretty when sent.
    let stored = serde_json::to_string(&generate::registry_schema()).unwrap();
    let http = StaticReplayClient::new(vec![
        event("GET", "", 200, json!({"RegistryName": "tally"})),
        event(
            "GET",
            "/schemas/name/tally@PageView",
            200,
            json!({"Content": stored, "SchemaVersion": "3"}),
        ),
    ]);
    let published = registry::publish(&client(&http), "tally", &content())
        .await
        .unwrap();
    assert_eq!(
        published,
        Published {
            registry_created: false,
            action: Action::Unchanged,
            version: "3".into()
        }
    );
    assert_eq!(requests(&http).len(), 2, "nothing may be written");
}

#[tokio::test]
async fn updates_to_a_new_version_when_the_content_changed() {
    let http = StaticReplayClient::new(vec![
        event("GET", "", 200, json!({"RegistryName": "tally"})),
        event(
            "GET",
            "/schemas/name/tally@PageView",
            200,
            json!({"Content": "{\"type\":\"object\"}", "SchemaVersion": "3"}),
        ),
        event(
            "PUT",
            "/schemas/name/tally@PageView",
            200,
            json!({"SchemaVersion": "4"}),
        ),
    ]);
    let published = registry::publish(&client(&http), "tally", &content())
        .await
        .unwrap();
    assert_eq!(
        published,
        Published {
            registry_created: false,
            action: Action::Updated,
            version: "4".into()
        }
    );
    let reqs = requests(&http);
    assert_eq!(reqs[2].0, "PUT");
    assert_eq!(reqs[2].2.as_ref().unwrap()["Type"], "JSONSchemaDraft4");
}

#[tokio::test]
async fn an_access_error_is_reported_not_mistaken_for_absence() {
    let http = StaticReplayClient::new(vec![ReplayEvent::new(
        http::Request::builder()
            .uri(BASE)
            .body(SdkBody::empty())
            .unwrap(),
        http::Response::builder()
            .status(403)
            .header("x-amzn-errortype", "ForbiddenException")
            .body(SdkBody::from(
                r#"{"Code":"ForbiddenException","Message":"no access to registry"}"#,
            ))
            .unwrap(),
    )]);
    let err = registry::publish(&client(&http), "tally", &content())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot describe registry \"tally\""), "{err}");
    assert!(err.contains("no access to registry"), "{err}");
    assert_eq!(requests(&http).len(), 1);
}
