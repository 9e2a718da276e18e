//! The Lambda@Edge module (`producers/edge-lambda`) as CloudFront runs it: packaged by
//! `tally edge package`, loaded in CPython, its `handler` called on every CloudFront fixture.
//!
//! Crosses the AWS boundary through the moto server that `./tests/run` starts (Step Functions
//! with execution enabled); needs maturin in `~/.cache/tally/venv`, which `./tests/run` installs.
//!
//! The configuration is baked into the module, so each endpoint (moto, a closed port, a listener
//! that never answers) gets its own build; after the first, a build recompiles only the module's
//! crate. Builds go to their own target directory (`$CARGO_TARGET_DIR/edge-lambda-test`): the
//! running `cargo test` holds the lock on its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

/// The default time budget of a call, and the bound a handler call must stay under: the budget
/// plus generous slack (a correctness bound, not a benchmark).
const BUDGET_MS: u64 = 300;
/// The budget when the endpoint is moto.
const MOTO_BUDGET_MS: u64 = 5_000;
const CALL_BOUND: Duration = Duration::from_millis(1500);

/// The edge time `tally edge inspect` is given; the handler uses the real clock.
const NOW: &str = "2026-11-29T06:40:19.123Z";

/// One build at a time: they share a target directory.
static BUILD: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .to_path_buf()
}

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("TALLY_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/tally/venv"),
        PathBuf::from,
    );
    venv.join("bin/python")
}

fn fixtures() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("producers/edge/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    out
}

fn tally() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tally"))
}

/// A configuration for the fixtures' site with `endpoint` baked in.
fn write_config(dir: &Path, state_machine_arn: &str, endpoint: &str, budget_ms: u64) -> PathBuf {
    write_config_with(dir, state_machine_arn, endpoint, budget_ms, json!({}))
}

/// [`write_config`] with the fields of `extra` too.
fn write_config_with(
    dir: &Path,
    state_machine_arn: &str,
    endpoint: &str,
    budget_ms: u64,
    extra: Value,
) -> PathBuf {
    let mut config = json!({
        "site": "www.example.com",
        "site_aliases": ["example.com"],
        "state_machine_arn": state_machine_arn,
        "region": "us-east-1",
        "endpoint_url": endpoint,
        "connect_timeout_ms": budget_ms,
        "total_timeout_ms": budget_ms,
    });
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    let path = dir.join("edge.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

/// `tally edge package --debug`: the module for this machine's Python, zipped as for Lambda.
fn package(dir: &Path, config: &Path) -> PathBuf {
    let target = PathBuf::from(
        std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| root().join("target").into()),
    )
    .join("edge-lambda-test");
    let out = dir.join("dist/edge.zip");
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let output = tally()
        .args(["edge", "package", "--debug", "--config"])
        .arg(config)
        .arg("--out")
        .arg(&out)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tally edge package failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("handler tally_edge.handler"), "{stdout}");
    out
}

/// The harness's bad events, after the fixtures.
const BAD_EVENTS: usize = 4;

/// Runs the Python harness: the module from `zip`, its handler on every fixture. The result has
/// `metrics` too: each metric summed over the calls' EMF lines (one per call, each checked).
fn run_handler(dir: &Path, zip: &Path) -> Value {
    let result_path = dir.join("result.json");
    let output = Command::new(venv_python())
        .arg(root().join("tests/edge_lambda/harness.py"))
        .arg(zip)
        .arg(dir.join("module"))
        .arg(&result_path)
        .args(fixtures())
        // What the Lambda runtime sets for the execution role; moto accepts any.
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "harness failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        let log: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not json ({e}): {line}"));
        assert!(log["level"].is_string(), "{line}");
    }
    let mut result: Value =
        serde_json::from_str(&std::fs::read_to_string(result_path).unwrap()).unwrap();
    result["metrics"] = metrics_sums(&String::from_utf8(output.stdout).unwrap());
    result
}

/// Every stdout line is one call's EMF line from the edge; each metric summed over them.
fn metrics_sums(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), fixtures().len() + BAD_EVENTS, "{stdout}");
    let mut sums = serde_json::Map::new();
    for line in lines {
        let emitted = tally_metrics::read(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(emitted.dimensions["Function"], "edge", "{line}");
        assert!(emitted.metrics.contains_key("Latency"), "{line}");
        assert!(
            !line.contains("192.0.2.") && !line.contains("Mozilla"),
            "{line}"
        );
        for (name, value) in emitted.metrics {
            let sum = sums.get(&name).and_then(Value::as_f64).unwrap_or(0.0) + value;
            sums.insert(name, json!(sum));
        }
    }
    Value::Object(sums)
}

/// A metric summed over the calls' lines.
fn metric(result: &Value, name: &str) -> u64 {
    result["metrics"][name].as_f64().unwrap_or(0.0) as u64
}

/// Every call returned the very object it was given (the response of a response event, else the
/// request), unchanged, within the bound.
fn assert_requests_unchanged(result: &Value) {
    let calls = result["calls"].as_array().unwrap();
    assert_eq!(calls.len(), fixtures().len());
    for call in calls {
        let path = call["fixture"].as_str().unwrap();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(call["same_object"], true, "{path}");
        let cf = &event["Records"][0]["cf"];
        let given = if cf["response"].is_null() {
            &cf["request"]
        } else {
            &cf["response"]
        };
        assert_eq!(
            call["returned"], *given,
            "{path}: the returned object changed"
        );
        let seconds = call["seconds"].as_f64().unwrap();
        assert!(
            seconds < CALL_BOUND.as_secs_f64(),
            "{path}: the handler took {seconds} s"
        );
    }
}

/// What `tally edge inspect` says for each fixture: the execution input, or none for a skip.
fn inspect_all(config: &Path) -> BTreeMap<PathBuf, Option<Value>> {
    fixtures()
        .into_iter()
        .map(|path| {
            let output = tally()
                .args(["edge", "inspect", "--now", NOW, "--config"])
                .arg(config)
                .arg(&path)
                .output()
                .unwrap();
            assert!(output.status.success(), "inspect {}", path.display());
            let text = String::from_utf8(output.stdout).unwrap();
            let view = if text.starts_with("skip: ") {
                None
            } else {
                Some(serde_json::from_str(&text).unwrap())
            };
            (path, view)
        })
        .collect()
}

fn stat(result: &Value, name: &str) -> u64 {
    result["stats"][name].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_returns_each_request_unchanged_and_starts_one_execution_per_page_view() {
    let moto = support::moto_config().await;
    let sfn = aws_sdk_sfn::Client::new(&moto);
    let name = support::unique("edge");
    let machine = support::create_enrich_machine(&sfn, &name, &name).await;

    let dir = tempfile::tempdir().unwrap();
    // moto runs the state machine while it answers StartExecution, which can take longer than
    // the production budget on a loaded machine; this test is about what is sent, so it gives
    // moto time. The budget itself is tested against a closed port and a hanging listener.
    // The visitor hash by the day's salt, from a salts table in moto.
    let dynamo = aws_sdk_dynamodb::Client::new(&moto);
    let salts = salts_table(&dynamo, &name).await;
    let config = write_config_with(
        dir.path(),
        &machine,
        &support::moto_endpoint(),
        MOTO_BUDGET_MS,
        json!({"visitor_hash": true, "salts_table": salts}),
    );
    let zip = package(dir.path(), &config);
    let result = run_handler(dir.path(), &zip);
    assert_requests_unchanged(&result);

    let expected = inspect_all(&config);
    let views: Vec<&Value> = expected.values().flatten().collect();
    assert!(views.len() >= 5, "the fixtures have page views");
    let skipped = expected.len() - views.len();
    assert_eq!(stat(&result, "sent"), views.len() as u64, "{result}");
    assert_eq!(stat(&result, "skipped"), skipped as u64);
    assert_eq!(stat(&result, "failed"), 0, "{result}");
    assert_eq!(stat(&result, "timeouts"), 0, "{result}");
    assert_eq!(stat(&result, "panics"), 0);
    assert_eq!(
        stat(&result, "invalid_events"),
        4,
        "the harness's bad events"
    );
    assert_eq!(metric(&result, "Views"), views.len() as u64, "{result}");
    assert_eq!(metric(&result, "Skipped"), skipped as u64, "{result}");
    assert_eq!(metric(&result, "Failed"), 4, "{result}");
    assert_eq!(metric(&result, "Failed.invalid_event"), 4, "{result}");

    // The executions, by input; the handler's clock is not inspect's.
    let executions = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .max_results(1000)
        .send()
        .await
        .unwrap()
        .executions;
    assert_eq!(executions.len(), views.len());
    let mut started = Vec::new();
    for execution in &executions {
        let described = sfn
            .describe_execution()
            .execution_arn(&execution.execution_arn)
            .send()
            .await
            .unwrap();
        let input: Value = serde_json::from_str(described.input().unwrap()).unwrap();
        started.push((execution.name.clone(), input));
    }
    let comparable = |v: &Value| {
        let mut v = v.clone();
        let o = v.as_object_mut().unwrap();
        o.remove("occurred_at");
        // `tally edge inspect` has no salt.
        o.remove("visitor_hash");
        // An id derived from the edge time differs too.
        if o["event_id"].as_str().unwrap().starts_with("edge-") {
            o.remove("event_id");
        }
        v
    };
    for view in &views {
        let want = comparable(view);
        let found = started
            .iter()
            .find(|(_, input)| comparable(input) == want)
            .unwrap_or_else(|| panic!("no execution with input {want}\nstarted: {started:?}"));
        let (name, input) = found;
        chrono::DateTime::parse_from_rfc3339(input["occurred_at"].as_str().unwrap()).unwrap();
        let event_id = input["event_id"].as_str().unwrap();
        if event_id.len() <= 80
            && event_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            assert_eq!(name, event_id);
        } else {
            assert!(
                name.len() <= 80 && name.starts_with(&event_id[..4]),
                "{name}"
            );
        }
    }
    // Every view's visitor hash is keyed by the salt the table holds for today.
    let now = chrono::Utc::now();
    let salt = dynamo
        .get_item()
        .table_name(&salts)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "salt#{}",
                now.date_naive().format("%Y-%m-%d")
            )),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("today's salt was made")["salt"]
        .as_s()
        .unwrap()
        .clone();
    let page = started
        .iter()
        .find(|(_, input)| {
            input["event_id"] == "p8vQhTNgFpnBHRcY3Nj2Ar9pQ1gZ7mXfWzL0bqUkD_eYx5sTa4vB1w=="
        })
        .map(|(_, input)| input)
        .expect("the page-view fixture was sent");
    assert_eq!(
        page["visitor_hash"].as_str(),
        Some(
            tally_edge::visitor::visitor_hash(
                salt.as_bytes(),
                "www.example.com",
                "203.0.113.178",
                fixture_user_agent().as_str(),
                now,
            )
            .as_str()
        ),
        "{page}"
    );
    for (_, input) in &started {
        assert!(input["visitor_hash"].is_string(), "{input}");
    }
    let names = &result["execution_names"];
    assert_eq!(names["plain-id_1"], "plain-id_1");
    assert!(names["p8vQ=="].as_str().unwrap().starts_with("p8vQ__-"));
    assert_eq!(names["a".repeat(81).as_str()].as_str().unwrap().len(), 80);
}

/// Builds the module for an endpoint on `port` of this machine with the default budget, runs the
/// handler on every fixture, checks every returned object is the one given; returns the harness's
/// result and the number of page views among the fixtures.
fn run_against_local_port(arn: &str, port: u16) -> (Value, u64) {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let config = write_config(dir.path(), arn, &endpoint, BUDGET_MS);
    let zip = package(dir.path(), &config);
    let result = run_handler(dir.path(), &zip);
    assert_requests_unchanged(&result);
    let views = inspect_all(&config).values().flatten().count() as u64;
    (result, views)
}

#[test]
fn the_handler_returns_within_its_budget_when_the_endpoint_is_closed_or_hangs() {
    let arn = "arn:aws:states:us-east-1:123456789012:stateMachine:nowhere";

    // A closed port: bound, then released.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // A listener that accepts connections and never answers.
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_port = hanging.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hanging.incoming() {
            held.push(stream);
        }
    });

    for (what, port) in [("closed", closed), ("hanging", hanging_port)] {
        let (result, views) = run_against_local_port(arn, port);
        assert_eq!(stat(&result, "sent"), 0, "{what}: {result}");
        let not_sent = stat(&result, "failed") + stat(&result, "timeouts");
        assert_eq!(not_sent, views, "{what}: {result}");
        assert_eq!(metric(&result, "Views"), 0, "{what}: {result}");
        let not_sent =
            metric(&result, "Failed.start_execution") + metric(&result, "Failed.timeout");
        assert_eq!(not_sent, views, "{what}: {result}");
        if what == "hanging" {
            assert_eq!(stat(&result, "timeouts"), views, "{what}: {result}");
            assert_eq!(metric(&result, "Failed.timeout"), views, "{what}: {result}");
        }
        assert_eq!(stat(&result, "panics"), 0);
    }
}

/// A Step Functions stand-in that answers the first `StartExecution` on each connection, keeps the
/// connection alive, and closes it without an answer when a second request arrives on it: what a
/// Lambda container thawed after a freeze meets when the service closed its pooled connection
/// meanwhile (the request goes out, the connection is gone). Returns its port and the number of
/// requests it answered.
fn closing_on_reuse() -> (u16, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answered = std::sync::Arc::new(AtomicU64::new(0));
    let count = std::sync::Arc::clone(&answered);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let count = std::sync::Arc::clone(&count);
            std::thread::spawn(move || {
                if answer_one(stream.try_clone().unwrap()).is_some() {
                    count.fetch_add(1, Ordering::SeqCst);
                    // The next request on this connection is read, then the connection dropped.
                    let _ = read_request(&mut std::io::BufReader::new(stream));
                }
            });
        }
    });
    (port, answered)
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body); `None` at end of stream.
fn read_request(reader: &mut impl std::io::BufRead) -> Option<()> {
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()
}

/// Reads a request on `stream` and answers it as `StartExecution` does, keeping the connection.
fn answer_one(mut stream: std::net::TcpStream) -> Option<()> {
    use std::io::Write;
    read_request(&mut std::io::BufReader::new(stream.try_clone().ok()?))?;
    let answer = r#"{"executionArn":"arn:aws:states:us-east-1:123456789012:express:m:n:1","startDate":1764571219.123}"#;
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{answer}",
        answer.len()
    );
    stream.write_all(response.as_bytes()).ok()
}

#[test]
fn a_pooled_connection_the_service_closed_costs_one_retry_not_the_view() {
    use std::sync::atomic::Ordering;
    let (port, answered) = closing_on_reuse();
    let arn = "arn:aws:states:us-east-1:123456789012:stateMachine:closing";
    let (result, views) = run_against_local_port(arn, port);
    assert!(views >= 5, "the fixtures have page views");
    // Every view after the first finds the previous call's connection closed, and is sent on a
    // new one.
    assert_eq!(stat(&result, "sent"), views, "{result}");
    assert_eq!(
        stat(&result, "failed") + stat(&result, "timeouts"),
        0,
        "{result}"
    );
    assert_eq!(answered.load(Ordering::SeqCst), views);
    assert_eq!(metric(&result, "Views"), views, "{result}");
}

#[test]
fn inspect_prints_the_execution_input_or_the_skip_reason_the_fixtures_expect() {
    // Without --config, inspect uses edge.example.json: the fixtures' site and alias.
    for path in fixtures() {
        let variant = path
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .replace("example-cloudfront-origin-request-", "")
            .replace("example-cloudfront-origin-response-", "response-");
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(
                root().join(format!("producers/edge/fixtures/expected/{variant}.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let output = tally()
            .args(["edge", "inspect", "--now", NOW])
            .arg(&path)
            .output()
            .unwrap();
        assert!(output.status.success(), "{variant}");
        let text = String::from_utf8(output.stdout).unwrap();
        if let Some(view) = expected.get("page_view") {
            assert_eq!(
                &serde_json::from_str::<Value>(&text).unwrap(),
                view,
                "{variant}"
            );
            assert!(text.starts_with("{\n  \""), "pretty: {text}");
        } else {
            let reason: tally_edge::SkipReason =
                serde_json::from_value(expected["skip"].clone()).unwrap();
            assert_eq!(text, format!("skip: {reason}\n"), "{variant}");
        }
    }
}

#[test]
fn inspect_refuses_a_malformed_event_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("not-json.json", "{\"Records\": ["),
        ("not-an-event.json", "[1, 2, 3]"),
        ("no-records.json", "{\"Records\": []}"),
        (
            "null-uri.json",
            "{\"Records\": [{\"cf\": {\"request\": {\"uri\": null}}}]}",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let output = tally()
            .args(["edge", "inspect"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: "), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(output.stdout.is_empty(), "{name}");
    }
    let output = tally()
        .args(["edge", "inspect", "--now", "yesterday"])
        .arg(root().join("producers/edge/fixtures/example-cloudfront-origin-request-post.json"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

/// A salts table in moto, as the pipeline stack makes it; its name.
async fn salts_table(dynamo: &aws_sdk_dynamodb::Client, name: &str) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let table = format!("{name}-salts");
    dynamo
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    table
}

/// The page-view fixture's user agent.
fn fixture_user_agent() -> String {
    let path =
        root().join("producers/edge/fixtures/example-cloudfront-origin-request-page-view.json");
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["Records"][0]["cf"]["request"]["headers"]["user-agent"][0]["value"]
        .as_str()
        .unwrap()
        .to_owned()
}
