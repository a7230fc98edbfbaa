//! The axum integration (feature `axum`): a [`FlowError`] answers a request by itself.
//!
//! The response carries the status of [`FlowError::http_status`], `Retry-After` in seconds
//! while throttled or locked and for [`FlowError::Busy`] ([`FlowError::retry_after`]),
//! `Cache-Control: no-store`, and a JSON
//! body with the stable message key and safe English text:
//!
//! ```json
//! {"error":"throttled","message":"Too many attempts. Wait a moment and try again.","retry_after":30}
//! ```
//!
//! An error the person cannot fix (store, key ring, configuration) reads `internal` with status
//! 500 and nothing of its cause: log the error in the handler before returning it if operators
//! should see why.
//!
//! ```
//! use axum_core::response::IntoResponse;
//! use twofactor::FlowError;
//!
//! // In a handler: `flow.verify(&user, &code).await?` turns a refusal into this response.
//! let response = twofactor::axum::error_response(&FlowError::Locked { until: 1_060 }, 1_000);
//! assert_eq!(response.status(), 429);
//! assert_eq!(response.headers()["retry-after"], "60");
//! let response = FlowError::InvalidCode { retry_at: None }.into_response();
//! assert_eq!(response.status(), 401);
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::flow::FlowError;

/// The response for `error` at Unix time `now` (which `Retry-After` counts from).
pub fn error_response(error: &FlowError, now: u64) -> Response {
    let retry_after = error.retry_after(now).map(|d| d.as_secs());
    let mut body = serde_json::json!({
        "error": error.message_key(),
        "message": error.user_message(),
    });
    if let (Some(secs), Some(object)) = (retry_after, body.as_object_mut()) {
        object.insert("retry_after".to_owned(), secs.into());
    }
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// [`error_response`] at the system clock's time.
impl IntoResponse for FlowError {
    fn into_response(self) -> Response {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        error_response(&self, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = ::axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn throttling_answers_429_with_retry_after() {
        let response = error_response(&FlowError::Throttled { until: 130 }, 100);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "30");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(
            body_of(response).await,
            serde_json::json!({
                "error": "throttled",
                "message": "Too many attempts. Wait a moment and try again.",
                "retry_after": 30,
            })
        );
    }

    #[tokio::test]
    async fn a_store_failure_says_nothing_of_its_cause() {
        let error = FlowError::Store(StoreError::Corrupt("enrolment state"));
        let response = error_response(&error, 0);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let body = body_of(response).await;
        assert_eq!(body["error"], "internal");
        assert!(!body.to_string().contains("enrolment"));
    }

    #[tokio::test]
    async fn a_wrong_code_answers_401_without_retry_after() {
        let response = FlowError::InvalidCode { retry_at: None }.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        assert_eq!(body_of(response).await["error"], "invalid_code");
    }
}
