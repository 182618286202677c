//! Rate limits and credits as the API reads and writes them, on keys (`/api/admin/keys`,
//! `/probio/domains/{name}/keys`) and users (`/api/admin/users`):
//!
//! ```json
//! "rate_limit": {"requests": 100, "window_seconds": 60},
//! "credits": {"remaining": 1000, "refill": {"amount": 1000, "interval_seconds": 86400}}
//! ```
//!
//! In a change, a field left out stays as it is and `null` removes it. No principal may change
//! the limits it is itself held to: a key its own, a user theirs, a key its root user's.

use keyward_store::{Credits, KeyLimits, RateLimit, Refill};
use keyward_store::{
    MAX_CREDITS, MAX_RATE_LIMIT_REQUESTS, MAX_RATE_LIMIT_WINDOW_MS, MAX_REFILL_INTERVAL_MS,
    MIN_REFILL_INTERVAL_MS,
};
use serde::{Deserialize, Deserializer};

use crate::error::{ApiError, ErrorCode};

/// A rate limit: `requests` per `window_seconds`.
#[derive(Clone, Copy, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitInput {
    /// Requests per window, 1 to 1000000: a burst of this many, then one every
    /// `window_seconds / requests`.
    requests: Option<i64>,
    /// The window, 1 to 2592000 seconds [default: 60].
    window_seconds: Option<i64>,
}

impl RateLimitInput {
    fn checked(self, field: &str) -> Result<RateLimit, ApiError> {
        let requests = self.requests.ok_or_else(|| {
            ApiError::invalid_field(field, format!("{field}.requests is required"))
        })?;
        let window = self.window_seconds.unwrap_or(60);
        let max_window = MAX_RATE_LIMIT_WINDOW_MS / 1000;
        let fits = (1..=i64::from(MAX_RATE_LIMIT_REQUESTS)).contains(&requests)
            && u64::try_from(window).is_ok_and(|window| (1..=max_window).contains(&window));
        let limit = fits
            .then(|| {
                RateLimit::new(u32::try_from(requests).ok()?, u64::try_from(window).ok()? * 1000)
            })
            .flatten();
        limit.ok_or_else(|| {
            ApiError::invalid_field(
                field,
                format!(
                    "{field} must allow 1 to {MAX_RATE_LIMIT_REQUESTS} requests per 1 to {max_window} seconds"
                ),
            )
        })
    }
}

/// Credits: spent one per accepted request; with a refill, set back to `amount` every
/// `interval_seconds`.
#[derive(Clone, Copy, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditsInput {
    /// Credits now, 0 to 10^12 [default: the refill amount].
    remaining: Option<i64>,
    /// The refill, if any.
    refill: Option<RefillInput>,
}

/// A refill of credits.
#[derive(Clone, Copy, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefillInput {
    /// The credits after each refill, 0 to 10^12.
    amount: Option<i64>,
    /// How often, 1 to 34560000 seconds (400 days).
    interval_seconds: Option<i64>,
}

impl CreditsInput {
    fn checked(self) -> Result<Credits, ApiError> {
        let refill = match self.refill {
            None => None,
            Some(refill) => {
                let amount = refill.amount.ok_or_else(|| {
                    ApiError::invalid_field("credits", "credits.refill.amount is required")
                })?;
                let interval = refill.interval_seconds.ok_or_else(|| {
                    ApiError::invalid_field(
                        "credits",
                        "credits.refill.interval_seconds is required",
                    )
                })?;
                Some(Refill { amount, interval_ms: interval.saturating_mul(1000) })
            }
        };
        let remaining = self.remaining.or(refill.map(|refill| refill.amount)).ok_or_else(|| {
            ApiError::invalid_field("credits", "credits.remaining is required without a refill")
        })?;
        Credits::new(remaining, refill).ok_or_else(|| {
            ApiError::invalid_field(
                "credits",
                format!(
                    "credits must be 0 to {MAX_CREDITS}, refilled every {} to {} seconds",
                    MIN_REFILL_INTERVAL_MS / 1000,
                    MAX_REFILL_INTERVAL_MS / 1000
                ),
            )
        })
    }
}

/// A field that may be left out (`None`), `null` (`Some(None)`) or given.
pub(crate) fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The limits a new key's input asks for.
pub(crate) fn new_key_limits(
    rate_limit: Option<RateLimitInput>,
    credits: Option<CreditsInput>,
) -> Result<KeyLimits, ApiError> {
    Ok(KeyLimits {
        rate_limit: rate_limit.map(|input| input.checked("rate_limit")).transpose()?,
        credits: credits.map(CreditsInput::checked).transpose()?,
    })
}

/// `current` with the changes asked for: a field left out stays, `null` removes.
pub(crate) fn changed_key_limits(
    current: KeyLimits,
    rate_limit: Option<Option<RateLimitInput>>,
    credits: Option<Option<CreditsInput>>,
) -> Result<KeyLimits, ApiError> {
    Ok(KeyLimits {
        rate_limit: match rate_limit {
            None => current.rate_limit,
            Some(input) => input.map(|input| input.checked("rate_limit")).transpose()?,
        },
        credits: match credits {
            None => current.credits,
            Some(input) => input.map(CreditsInput::checked).transpose()?,
        },
    })
}

/// A user's rate limit as asked for (`null` removes it).
pub(crate) fn user_rate_limit(
    input: Option<RateLimitInput>,
) -> Result<Option<RateLimit>, ApiError> {
    input.map(|input| input.checked("rate_limit")).transpose()
}

/// Refuses a principal changing the limits it is held to.
pub(crate) fn not_own_limits(own: bool) -> Result<(), ApiError> {
    if own {
        return Err(ApiError::new(ErrorCode::PermissionDenied)
            .with_message("A credential cannot change the limits it is itself held to"));
    }
    Ok(())
}
