//! The site stack, in us-east-1: the one distribution the producers share, in front of a private
//! S3 bucket through origin access control, with a CloudFront Function serving index documents,
//! optional aliases and certificate, and each deployed producer attached to the page behaviours
//! through the parameters its stack's outputs fill.

mod behaviours;

use serde_json::{Map, Value, json};

pub use behaviours::{ASSET_PATTERN, CACHING_DISABLED, CACHING_OPTIMIZED};

use crate::cfn::{
    bucket_encryption, get_att, if_else, not_empty, only_if, public_access_blocked, reference, sub,
    template, tls_only,
};
use crate::producers::FORWARDED_HEADERS;
use crate::producers::standard_logs::LOG_PREFIX;
use crate::{Options, Sources};

/// The viewer-request function's code (`cloudfront-js-2.0`).
pub const INDEX_FUNCTION_CODE: &str = include_str!("index.js");

pub(crate) const INDEX_FUNCTION: &str = "IndexFunction";
pub(crate) const VIEWER_HEADERS: &str = "ViewerHeadersPolicy";
pub(crate) const HAS_EDGE: &str = "HasEdge";
pub(crate) const HAS_REALTIME: &str = "HasRealtimeLogs";
const HAS_STANDARD: &str = "HasStandardLogs";
const HAS_CERTIFICATE: &str = "HasCertificate";
const BUCKET: &str = "SiteBucket";
const DISTRIBUTION: &str = "Distribution";

fn parameters(options: &Options) -> Value {
    json!({
        "EdgeFunctionVersionArn": {
            "Type": "String", "Default": "",
            "Description": "the edge stack's EdgeFunctionVersionArn; empty: no edge producer"
        },
        "RealtimeLogConfigArn": {
            "Type": "String", "Default": "",
            "Description": "the real-time log stack's RealtimeLogConfigArn; empty: no real-time logs"
        },
        "LogBucketDomainName": {
            "Type": "String", "Default": "",
            "Description": "the standard-log stack's LogBucketDomainName; empty: no standard logs"
        },
        "Aliases": {
            "Type": "CommaDelimitedList", "Default": options.aliases.join(","),
            "Description": "the site's host names (need CertificateArn)"
        },
        "CertificateArn": {
            "Type": "String", "Default": options.certificate_arn,
            "AllowedPattern": "^(arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[0-9a-f-]+)?$",
            "Description": "an ACM certificate in us-east-1 covering the aliases; empty: the cloudfront.net name only"
        }
    })
}

fn conditions() -> Value {
    json!({
        HAS_EDGE: not_empty("EdgeFunctionVersionArn"),
        HAS_REALTIME: not_empty("RealtimeLogConfigArn"),
        HAS_STANDARD: not_empty("LogBucketDomainName"),
        HAS_CERTIFICATE: not_empty("CertificateArn")
    })
}

fn bucket(r: &mut Map<String, Value>) {
    r.insert(
        BUCKET.into(),
        json!({
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketEncryption": bucket_encryption(),
                "PublicAccessBlockConfiguration": public_access_blocked(),
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
            }
        }),
    );
    let from_distribution = json!({"StringEquals": {"AWS:SourceArn":
        sub("arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}")}});
    // s3:ListBucket too, so that a missing page is a 404 (a view of nothing) rather than a 403.
    r.insert(
        "SiteBucketPolicy".into(),
        json!({
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": reference(BUCKET),
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Sid": "CloudFrontReads", "Effect": "Allow",
                     "Principal": {"Service": "cloudfront.amazonaws.com"},
                     "Action": "s3:GetObject", "Resource": sub("${SiteBucket.Arn}/*"),
                     "Condition": from_distribution},
                    {"Sid": "CloudFrontLists", "Effect": "Allow",
                     "Principal": {"Service": "cloudfront.amazonaws.com"},
                     "Action": "s3:ListBucket", "Resource": get_att(BUCKET, "Arn"),
                     "Condition": from_distribution},
                    tls_only(get_att(BUCKET, "Arn"), sub("${SiteBucket.Arn}/*"))
                ]}
            }
        }),
    );
    r.insert(
        "SiteOriginAccessControl".into(),
        json!({
            "Type": "AWS::CloudFront::OriginAccessControl",
            "Properties": {"OriginAccessControlConfig": {
                "Name": sub("${AWS::StackName}-site"),
                "Description": "the distribution reads the private site bucket, signed",
                "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always",
                "SigningProtocol": "sigv4"
            }}
        }),
    );
}

fn functions(r: &mut Map<String, Value>) {
    r.insert(INDEX_FUNCTION.into(), json!({
        "Type": "AWS::CloudFront::Function",
        "Properties": {
            "Name": sub("${AWS::StackName}-index"),
            "AutoPublish": true,
            "FunctionCode": INDEX_FUNCTION_CODE,
            "FunctionConfig": {"Comment": "/dir/ -> /dir/index.html, /dir -> 301 /dir/", "Runtime": "cloudfront-js-2.0"}
        }
    }));
    r.insert(
        VIEWER_HEADERS.into(),
        json!({
            "Type": "AWS::CloudFront::OriginRequestPolicy",
            "Condition": HAS_EDGE,
            "Properties": {"OriginRequestPolicyConfig": {
                "Name": sub("${AWS::StackName}-viewer-headers"),
                "Comment": "the viewer headers the tally edge function reads",
                "HeadersConfig": {"HeaderBehavior": "whitelist", "Headers": FORWARDED_HEADERS},
                "CookiesConfig": {"CookieBehavior": "none"},
                "QueryStringsConfig": {"QueryStringBehavior": "all"}
            }}
        }),
    );
}

fn distribution(options: &Options, r: &mut Map<String, Value>) {
    let certificate = if_else(
        HAS_CERTIFICATE,
        json!({"AcmCertificateArn": reference("CertificateArn"), "SslSupportMethod": "sni-only",
               "MinimumProtocolVersion": "TLSv1.2_2021"}),
        json!({"CloudFrontDefaultCertificate": true}),
    );
    r.insert(
        DISTRIBUTION.into(),
        json!({
            "Type": "AWS::CloudFront::Distribution",
            "Properties": {"DistributionConfig": {
                "Enabled": true,
                "Comment": sub("${AWS::StackName}: site with tally page views"),
                "HttpVersion": "http2and3",
                "IPV6Enabled": true,
                "DefaultRootObject": "index.html",
                "Aliases": only_if(HAS_CERTIFICATE, reference("Aliases")),
                "ViewerCertificate": certificate,
                "Origins": [{
                    "Id": behaviours::ORIGIN,
                    "DomainName": get_att(BUCKET, "RegionalDomainName"),
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                    "OriginAccessControlId": get_att("SiteOriginAccessControl", "Id")
                }],
                "DefaultCacheBehavior": behaviours::page(None),
                "CacheBehaviors": behaviours::ordered(&options.page_extensions),
                "Logging": only_if(HAS_STANDARD, json!({
                    "Bucket": reference("LogBucketDomainName"),
                    "Prefix": LOG_PREFIX,
                    "IncludeCookies": false
                }))
            }}
        }),
    );
}

/// The site template.
pub(crate) fn render(_sources: &Sources, options: &Options) -> Value {
    let mut r = Map::new();
    bucket(&mut r);
    functions(&mut r);
    distribution(options, &mut r);
    let mut t = template(
        "Tally site (us-east-1): the CloudFront distribution in front of a private S3 bucket (origin access control, index documents), with the deployed producers on its page behaviours. Generated by `tally deploy --dry-run`: do not edit.",
        parameters(options),
        Value::Object(r),
        json!({
            "SiteBucketName": {"Description": "put the site here", "Value": reference(BUCKET)},
            "DistributionId": {"Value": reference(DISTRIBUTION)},
            "DistributionDomainName": {"Value": get_att(DISTRIBUTION, "DomainName")}
        }),
    );
    t["Conditions"] = conditions();
    t
}
