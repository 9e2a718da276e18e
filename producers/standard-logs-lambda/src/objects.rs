//! Reading a log object: a trait so the handler runs without a network in tests, and its S3
//! client.

use std::future::Future;

use tally_lambda_sink::CallError;

/// Largest object read, in bytes: CloudFront writes many small objects an hour, so anything
/// larger is not one of its logs.
pub const MAX_OBJECT_BYTES: i64 = 256 * 1024 * 1024;

/// Why an object could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    /// It will never be readable (deleted, or expired by the lifecycle rule, before it was read;
    /// too large): the object goes to the failure queue with this reason.
    #[error("{0}")]
    Permanent(String),
    /// The call failed and may pass later: the invocation fails and is retried.
    #[error(transparent)]
    Failed(#[from] CallError),
}

/// Fetches log objects.
pub trait Objects: Clone + Send + Sync + 'static {
    /// The whole object `key` of `bucket`, as stored (gzip or not).
    fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<u8>, GetError>> + Send;
}

/// S3: `GetObject`.
pub mod s3 {
    use aws_sdk_s3::operation::get_object::GetObjectError;

    use super::{GetError, MAX_OBJECT_BYTES, Objects};
    use tally_lambda_sink::{CallError, error_text as text};

    /// The log bucket's client.
    #[derive(Debug, Clone)]
    pub struct S3 {
        client: aws_sdk_s3::Client,
    }

    impl S3 {
        /// Objects through `client`.
        pub fn new(client: aws_sdk_s3::Client) -> Self {
            S3 { client }
        }
    }

    impl Objects for S3 {
        async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, GetError> {
            let sent = self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await;
            let object = match sent {
                Ok(object) => object,
                Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                    return Err(GetError::Permanent(
                        "the object is gone (deleted or expired before it was read)".into(),
                    ));
                }
                Err(e) => return Err(CallError(format!("get object: {}", text(&e))).into()),
            };
            if object
                .content_length()
                .is_some_and(|n| n > MAX_OBJECT_BYTES)
            {
                return Err(GetError::Permanent(format!(
                    "the object is larger than {MAX_OBJECT_BYTES} bytes: not a CloudFront log"
                )));
            }
            let body = object.body.collect().await.map_err(|e| {
                GetError::Failed(CallError(format!("read the object: {}", text(&e))))
            })?;
            Ok(body.into_bytes().to_vec())
        }
    }
}
