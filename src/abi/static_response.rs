//! Spin's `static_response`: a route answered with a fixed status, headers
//! and body, with no module to run.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Response, StatusCode};

use super::{GuestError, ResponseBody, full_body};
use crate::config::StaticResponse;

/// A fixed response, checked once when the app is loaded.
#[derive(Clone)]
pub struct StaticGuest(Arc<Prepared>);

struct Prepared {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: bytes::Bytes,
}

impl StaticGuest {
    /// Checks the status and headers of `response`.
    pub fn new(response: &StaticResponse) -> Result<StaticGuest, String> {
        let status = StatusCode::from_u16(response.status)
            .map_err(|_| format!("static_response: {} is no HTTP status", response.status))?;
        let headers = response
            .headers
            .iter()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("static_response: `{name}` is no header name"))?;
                let value = HeaderValue::from_str(value).map_err(|_| {
                    format!("static_response: header `{name}` has an invalid value")
                })?;
                Ok((name, value))
            })
            .collect::<Result<_, String>>()?;
        Ok(StaticGuest(Arc::new(Prepared {
            status,
            headers,
            body: response.body.clone().into(),
        })))
    }

    pub fn respond(&self) -> Result<Response<ResponseBody>, GuestError> {
        let mut response = Response::new(full_body(self.0.body.clone()));
        *response.status_mut() = self.0.status;
        for (name, value) in &self.0.headers {
            response.headers_mut().append(name, value.clone());
        }
        Ok(response)
    }
}
