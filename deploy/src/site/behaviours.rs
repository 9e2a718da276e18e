//! The distribution's cache behaviours: pages (the default behaviour and `*.{ext}` per page
//! extension) carry the producers; assets (`*.*`, every other path with a dot) keep their cache.
//!
//! CloudFront matches ordered behaviours first, in order, then the default: `/a/b.html` is a
//! page by `*.html`, `/style.css` an asset by `*.*`, `/blog/` and `/blog` pages by the default.
//! The index rewrite runs on the default behaviour only, where every path without a dot lands:
//! `*.html` needs none, and on the assets it would cost 0.10 USD per million requests for
//! nothing. A directory with a dot in its name (`/v1.2/`, `/v1.2/intro`) matches `*.*`, so it is
//! neither rewritten (`/v1.2/` is a 404: no index document) nor seen by the edge and real-time
//! producers; give such directories their own page behaviour, or no dot. Path patterns are
//! case-sensitive: `/A.HTML` is an asset.

use serde_json::{Value, json};

use crate::cfn::{get_att, if_else, only_if, reference};

/// CloudFront's managed cache policy `Managed-CachingDisabled`.
pub const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// CloudFront's managed cache policy `Managed-CachingOptimized`.
pub const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// The origin's id.
pub(crate) const ORIGIN: &str = "site";
/// The asset behaviour's pattern: anything with a dot that no page pattern took.
pub const ASSET_PATTERN: &str = "*.*";

/// The viewer-request index rewrite, on the default behaviour.
fn index_rewrite() -> Value {
    json!([{"EventType": "viewer-request", "FunctionARN": get_att(super::INDEX_FUNCTION, "FunctionARN")}])
}

fn common(pattern: Option<&str>, cache_policy: Value) -> Value {
    let mut b = json!({
        "TargetOriginId": ORIGIN,
        "ViewerProtocolPolicy": "redirect-to-https",
        "Compress": true,
        "CachePolicyId": cache_policy
    });
    match pattern {
        Some(pattern) => b["PathPattern"] = json!(pattern),
        None => b["FunctionAssociations"] = index_rewrite(),
    }
    b
}

/// A page behaviour: cached unless the edge producer needs every request (origin-response sees
/// only what reaches the origin); the edge function and the real-time log configuration when
/// their producers are deployed.
pub(crate) fn page(pattern: Option<&str>) -> Value {
    let cache = if_else(
        super::HAS_EDGE,
        json!(CACHING_DISABLED),
        json!(CACHING_OPTIMIZED),
    );
    let mut b = common(pattern, cache);
    b["OriginRequestPolicyId"] = only_if(super::HAS_EDGE, reference(super::VIEWER_HEADERS));
    b["LambdaFunctionAssociations"] = only_if(
        super::HAS_EDGE,
        json!([{"EventType": "origin-response", "LambdaFunctionARN": reference("EdgeFunctionVersionArn")}]),
    );
    b["RealtimeLogConfigArn"] = only_if(super::HAS_REALTIME, reference("RealtimeLogConfigArn"));
    b
}

/// The asset behaviour: cached, no producer.
pub(crate) fn asset() -> Value {
    common(Some(ASSET_PATTERN), json!(CACHING_OPTIMIZED))
}

/// The ordered behaviours: one page behaviour per page extension, then the assets.
pub(crate) fn ordered(page_extensions: &[String]) -> Vec<Value> {
    let mut behaviours: Vec<Value> = page_extensions
        .iter()
        .map(|ext| page(Some(&format!("*.{ext}"))))
        .collect();
    behaviours.push(asset());
    behaviours
}
