//! The visitor hash's daily salts in the cloud: random, one per UTC day, shared by every log
//! producer of a deployment, deleted once their day is over.
//!
//! The pipeline stack's salts table (DynamoDB) holds one item per day, `pk` = `salt#YYYY-MM-DD`,
//! with the salt (`salt`, 32 random bytes as hex) and `expires_at` (the start of the day after
//! next, for DynamoDB's TTL). The first producer to need a day's salt makes it (a conditional
//! put, so two producers racing agree on one) and deletes the salts of the days before
//! yesterday, so a day's salt lives at most 48 hours, the TTL catching what a failed delete
//! left. A producer keeps the salts of yesterday and today (views of a day can arrive on the
//! next, and standard logs are up to an hour late); a view of an older day gets no visitor hash.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::clients::CallError;

/// The salts of the days a producer hashes views of: yesterday's and today's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaySalts(pub BTreeMap<NaiveDate, Arc<str>>);

impl DaySalts {
    /// The salt of `at`'s UTC day, when it is one of these.
    pub fn salt_of(&self, at: DateTime<Utc>) -> Option<Arc<str>> {
        self.0.get(&at.date_naive()).cloned()
    }
}

/// Where the daily salts are kept.
pub trait SaltStore: Send + Sync {
    /// Yesterday's and today's salts at `now`, made when missing.
    fn day_salts(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<DaySalts, CallError>> + Send;
}

/// No salts: no visitor hash (the store is not configured).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSalts;

impl SaltStore for NoSalts {
    async fn day_salts(&self, _now: DateTime<Utc>) -> Result<DaySalts, CallError> {
        Ok(DaySalts::default())
    }
}

/// A store when configured, none otherwise.
impl<S: SaltStore> SaltStore for Option<S> {
    async fn day_salts(&self, now: DateTime<Utc>) -> Result<DaySalts, CallError> {
        match self {
            Some(store) => store.day_salts(now).await,
            None => Ok(DaySalts::default()),
        }
    }
}

/// The two days whose salts are kept at `now`: yesterday and today.
pub fn kept_days(now: DateTime<Utc>) -> [NaiveDate; 2] {
    let today = now.date_naive();
    [today.checked_sub_days(Days::new(1)).unwrap_or(today), today]
}

/// The item key of `day`'s salt.
pub fn salt_key(day: NaiveDate) -> String {
    format!("salt#{}", day.format("%Y-%m-%d"))
}

/// When `day`'s salt expires: the start of the day after next (48 hours after it began).
pub fn salt_expiry(day: NaiveDate) -> DateTime<Utc> {
    let after_next = day.checked_add_days(Days::new(2)).unwrap_or(day);
    after_next
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
}

/// 32 random bytes from the operating system, as hex.
pub fn random_salt() -> Result<String, CallError> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| CallError(format!("cannot read random bytes: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// DynamoDB: the salts table, with a per-container cache of the days already read.
pub mod dynamo {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::clients::error_text;

    /// The salts table.
    #[derive(Debug)]
    pub struct DynamoSalts {
        client: aws_sdk_dynamodb::Client,
        table: String,
        cache: Mutex<DaySalts>,
    }

    impl DynamoSalts {
        /// The salts in `table` through `client`.
        pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
            DynamoSalts {
                client,
                table,
                cache: Mutex::new(DaySalts::default()),
            }
        }

        /// `day`'s salt: read, or made (and the salts before yesterday deleted).
        async fn salt(&self, day: NaiveDate, now: DateTime<Utc>) -> Result<Arc<str>, CallError> {
            if let Some(salt) = self.read(day).await? {
                return Ok(salt);
            }
            let salt = random_salt()?;
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(salt_key(day)))
                .item("salt", AttributeValue::S(salt.clone()))
                .item(
                    "expires_at",
                    AttributeValue::N(salt_expiry(day).timestamp().to_string()),
                )
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match put {
                Ok(_) => {
                    self.delete_before(kept_days(now)[0]).await?;
                    Ok(salt.into())
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    // Another producer made it first: that one is the day's.
                    self.read(day).await?.ok_or_else(|| {
                        CallError(format!("the salt of {day} vanished after it was made"))
                    })
                }
                Err(e) => Err(CallError(format!(
                    "cannot make the salt of {day}: {}",
                    error_text(&e)
                ))),
            }
        }

        async fn read(&self, day: NaiveDate) -> Result<Option<Arc<str>>, CallError> {
            let got = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(salt_key(day)))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| {
                    CallError(format!("cannot read the salt of {day}: {}", error_text(&e)))
                })?;
            Ok(got
                .item
                .and_then(|item| item.get("salt").and_then(|s| s.as_s().ok()).cloned())
                .map(Into::into))
        }

        /// Deletes the salts of the three days before `first_kept` (a day older still went when
        /// its successor was made, or with the TTL).
        async fn delete_before(&self, first_kept: NaiveDate) -> Result<(), CallError> {
            for back in 1..=3 {
                let Some(day) = first_kept.checked_sub_days(Days::new(back)) else {
                    continue;
                };
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", AttributeValue::S(salt_key(day)))
                    .send()
                    .await
                    .map_err(|e| {
                        CallError(format!(
                            "cannot delete the salt of {day}: {}",
                            error_text(&e)
                        ))
                    })?;
            }
            Ok(())
        }
    }

    impl SaltStore for DynamoSalts {
        async fn day_salts(&self, now: DateTime<Utc>) -> Result<DaySalts, CallError> {
            let days = kept_days(now);
            let cached = self
                .cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let mut salts = DaySalts::default();
            for day in days {
                let salt = match cached.0.get(&day) {
                    Some(salt) => salt.clone(),
                    None => self.salt(day, now).await?,
                };
                salts.0.insert(day, salt);
            }
            *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = salts.clone();
            Ok(salts)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_salt_lives_two_days_and_only_yesterday_and_today_are_kept() {
        let now: DateTime<Utc> = "2026-03-10T00:30:00Z".parse().expect("a time");
        let [yesterday, today] = kept_days(now);
        assert_eq!(yesterday.to_string(), "2026-03-09");
        assert_eq!(today.to_string(), "2026-03-10");
        assert_eq!(salt_expiry(today).to_rfc3339(), "2026-03-12T00:00:00+00:00");
        assert_eq!(salt_key(today), "salt#2026-03-10");
        let salts = DaySalts([(today, Arc::from("s"))].into());
        assert_eq!(salts.salt_of(now).as_deref(), Some("s"));
        assert_eq!(salts.salt_of(now - chrono::Duration::days(2)), None);
        let a = random_salt().expect("random");
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_salt().expect("random"));
    }
}
