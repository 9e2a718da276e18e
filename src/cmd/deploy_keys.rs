//! The deployment's event-id key: one per deployment, the same for every producer.
//!
//! Every producer keys its page views' event ids with it (`tally_edge::event_id`), so a request
//! two producers see counts once and no stored event can be matched to CloudFront's logs without
//! it. The edge configuration's `event_id_key` wins when it has one; otherwise the key is
//! [`KEY_OBJECT`] in the home region's artifacts bucket (private, encrypted), made on the first
//! deploy and read by every later one, so redeploying never changes the ids.

use aws_sdk_s3::Client as S3;
use tally_edge::Secret;
use tally_edge::config::MIN_SECRET_BYTES;

use super::deploy_aws::upload;
use crate::local::secret::random_hex;

/// Where the key is kept in the home artifacts bucket.
pub const KEY_OBJECT: &str = "keys/event-id-key";

/// The deployment's key: `configured` when set, else the bucket's, made when missing.
pub async fn event_id_key(
    s3: &S3,
    bucket: &str,
    configured: Option<&Secret>,
) -> anyhow::Result<Secret> {
    if let Some(key) = configured {
        return Ok(key.clone());
    }
    match s3.get_object().bucket(bucket).key(KEY_OBJECT).send().await {
        Ok(object) => {
            let bytes = object
                .body
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("cannot read s3://{bucket}/{KEY_OBJECT}: {e}"))?;
            let key = String::from_utf8_lossy(&bytes.into_bytes())
                .trim()
                .to_owned();
            anyhow::ensure!(
                key.len() >= MIN_SECRET_BYTES,
                "s3://{bucket}/{KEY_OBJECT} holds a key shorter than {MIN_SECRET_BYTES} bytes"
            );
            Ok(Secret(key))
        }
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
            let key = random_hex(32)?;
            upload(s3, bucket, KEY_OBJECT, key.clone().into_bytes()).await?;
            Ok(Secret(key))
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot read s3://{bucket}/{KEY_OBJECT}: {}",
            aws_sdk_s3::error::DisplayErrorContext(&e)
        )),
    }
}
