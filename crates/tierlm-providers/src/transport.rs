//! How a provider's request goes out: the direct client of [`crate::direct`] (the
//! connection is driven by the task waiting for the answer), or reqwest where an HTTP
//! proxy is configured through the environment (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, which reqwest honours together with `NO_PROXY`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use http_body_util::Full;

use crate::direct::{DirectClient, Origin};
use crate::roots::ExtraRoots;

/// A response body, chunk by chunk.
pub(crate) type BodyStream = BoxStream<'static, Result<Bytes, String>>;

/// A provider's answer once its head has arrived.
pub(crate) struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: BodyStream,
}

/// One POST with a JSON body.
pub(crate) struct Outgoing {
    /// The full URL without its query.
    pub url: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

pub(crate) enum TransportError {
    Timeout(String),
    Connect(String),
}

const USER_AGENT: &str = concat!("tierlm/", env!("CARGO_PKG_VERSION"));

pub(crate) enum Transport {
    Direct(Arc<DirectClient>),
    Reqwest(reqwest::Client),
}

fn proxy_configured(tls: bool) -> bool {
    let names: &[&str] = if tls {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names
        .iter()
        .any(|n| std::env::var_os(n).is_some_and(|v| !v.is_empty()))
}

impl Transport {
    pub fn new(
        base_url: &str,
        connect_timeout: Duration,
        extra_roots: Option<&ExtraRoots>,
    ) -> Result<Self, String> {
        if let Ok(origin) = Origin::parse(base_url) {
            if !proxy_configured(origin.tls) {
                let client = DirectClient::new(origin, connect_timeout, extra_roots)?;
                return Ok(Self::Direct(client));
            }
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT);
        for cert in extra_roots.map(ExtraRoots::certs).unwrap_or_default() {
            let cert = reqwest::Certificate::from_der(cert).map_err(|e| e.to_string())?;
            builder = builder.add_root_certificate(cert);
        }
        builder
            .build()
            .map(Self::Reqwest)
            .map_err(|e| e.to_string())
    }

    pub async fn send(&self, out: Outgoing) -> Result<Reply, TransportError> {
        match self {
            Self::Direct(client) => send_direct(client, out).await,
            Self::Reqwest(client) => send_reqwest(client, out).await,
        }
    }
}

fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

async fn send_direct(client: &Arc<DirectClient>, out: Outgoing) -> Result<Reply, TransportError> {
    let uri: http::Uri = out
        .url
        .parse()
        .map_err(|e| TransportError::Connect(format!("invalid provider URL: {e}")))?;
    let mut target = uri.path().to_string();
    if !out.query.is_empty() {
        let q = serde_urlencoded::to_string(&out.query)
            .map_err(|e| TransportError::Connect(format!("invalid query: {e}")))?;
        target.push('?');
        target.push_str(&q);
    }
    let mut builder = http::Request::post(target)
        .header(http::header::HOST, client.authority())
        .header(http::header::USER_AGENT, USER_AGENT)
        .header(http::header::ACCEPT, "*/*");
    for (name, value) in &out.headers {
        builder = builder.header(*name, value.as_str());
    }
    let req = builder
        .body(Full::new(Bytes::from(out.body)))
        .map_err(|e| TransportError::Connect(format!("invalid request: {e}")))?;
    let answer = client.send(req).await?;
    Ok(Reply {
        status: answer.status,
        retry_after: retry_after(&answer.headers),
        body: answer.body.boxed(),
    })
}

async fn send_reqwest(client: &reqwest::Client, out: Outgoing) -> Result<Reply, TransportError> {
    let mut rb = client.post(&out.url).query(&out.query).body(out.body);
    for (name, value) in &out.headers {
        rb = rb.header(*name, value.as_str());
    }
    let resp = match rb.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Err(TransportError::Timeout(without_url(&e))),
        Err(e) => return Err(TransportError::Connect(without_url(&e))),
    };
    Ok(Reply {
        status: resp.status().as_u16(),
        retry_after: retry_after(resp.headers()),
        body: resp
            .bytes_stream()
            .map(|r| r.map_err(|e| without_url(&e)))
            .boxed(),
    })
}

/// The whole body.
pub(crate) async fn collect(body: &mut BodyStream) -> Result<Vec<u8>, String> {
    let mut all = Vec::new();
    while let Some(chunk) = body.next().await {
        all.extend_from_slice(&chunk?);
    }
    Ok(all)
}

/// reqwest errors print the URL, which may carry a key in its query; drop it.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "<provider url>");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(v: &str) -> Option<Duration> {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, v.parse().unwrap());
        retry_after(&h)
    }

    #[test]
    fn retry_after_takes_seconds_and_refuses_what_no_duration_holds() {
        assert_eq!(after(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(after("0"), Some(Duration::ZERO));
        // Each of these used to panic in `Duration::from_secs_f64`, or is not seconds.
        for v in ["-1", "inf", "NaN", "1e30", "Wed, 21 Oct 2026 07:28:00 GMT"] {
            assert_eq!(after(v), None, "{v}");
        }
    }
}
