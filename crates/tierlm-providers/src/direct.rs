//! A direct HTTP/1.1 client for one provider origin, driven in the caller's task.
//!
//! reqwest runs each upstream connection in a task of its own and hands the response
//! body over one chunk at a time through a channel: every chunk of a stream is a task
//! wake-up, often on the other worker thread, and its own write to the client. Here the
//! connection (hyper's `client::conn::http1`) is polled by whoever waits for its
//! answer, so the request, the response head and every body chunk already read are
//! handled in one task, and a burst of chunks reaches the client as one write. Idle
//! connections wait in a small pool (most recently used first); a connection the
//! server has closed is noticed when it is taken out, before anything is sent on it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::roots::ExtraRoots;
use crate::transport::TransportError;

/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// At most this many idle connections are kept.
const MAX_IDLE: usize = 256;

/// A plain or TLS socket.
enum Socket {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, b),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, b),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A failed request's error, and the request itself where it never went out.
type Unsent = (hyper::Error, Option<http::Request<Full<Bytes>>>);

type Driver = Pin<Box<http1::Connection<TokioIo<Socket>, Full<Bytes>>>>;

/// One connection: the handle that sends requests and the future that does its I/O.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    /// `None` once the connection has finished (closed by either side or failed).
    driver: Option<Driver>,
    idle_since: Instant,
}

impl Conn {
    /// Polls the connection's I/O; `Ready` once it has finished.
    fn poll_driver(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(driver) = self.driver.as_mut() else {
            return Poll::Ready(());
        };
        match driver.as_mut().poll(cx) {
            Poll::Ready(_) => {
                self.driver = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Polls `step` until it is ready, driving the connection it depends on; once the
    /// connection has finished, `step` reports how.
    async fn drive<T>(
        &mut self,
        mut step: impl FnMut(&mut http1::SendRequest<Full<Bytes>>, &mut Context<'_>) -> Poll<T>,
    ) -> T {
        futures::future::poll_fn(|cx| {
            if let Poll::Ready(v) = step(&mut self.sender, cx) {
                return Poll::Ready(v);
            }
            if self.poll_driver(cx).is_ready() {
                return step(&mut self.sender, cx);
            }
            Poll::Pending
        })
        .await
    }
}

/// Where a provider lives.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// `host[:port]` as the `Host` header carries it.
    pub authority: String,
}

impl Origin {
    pub fn parse(base_url: &str) -> Result<Self, String> {
        let uri: http::Uri = base_url
            .parse()
            .map_err(|e| format!("invalid base URL `{base_url}`: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(format!(
                    "base URL `{base_url}` must start with http:// or https://"
                ))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("base URL `{base_url}` has no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        Ok(Self {
            host: host.to_string(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            tls,
            authority: authority.as_str().to_string(),
        })
    }
}

/// A pooled HTTP/1.1 client for one origin.
pub(crate) struct DirectClient {
    origin: Origin,
    tls: Option<tokio_rustls::TlsConnector>,
    connect_timeout: Duration,
    idle: Mutex<Vec<Conn>>,
}

/// An answer whose body is read by driving its connection in the reader's task.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: DrivenBody,
}

impl DirectClient {
    pub fn new(
        origin: Origin,
        connect_timeout: Duration,
        extra_roots: Option<&ExtraRoots>,
    ) -> Result<Arc<Self>, String> {
        let tls = if origin.tls {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            for cert in extra_roots.map(ExtraRoots::certs).unwrap_or_default() {
                roots.add(cert.clone()).map_err(|e| format!("TLS: {e}"))?;
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
        } else {
            None
        };
        Ok(Arc::new(Self {
            origin,
            tls,
            connect_timeout,
            idle: Mutex::new(Vec::new()),
        }))
    }

    pub fn authority(&self) -> &str {
        &self.origin.authority
    }

    async fn connect(&self) -> Result<Conn, TransportError> {
        let (host, port) = (self.origin.host.as_str(), self.origin.port);
        let open = async {
            let tcp = TcpStream::connect((host, port))
                .await
                .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
            tcp.set_nodelay(true)
                .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
            let socket = match &self.tls {
                None => Socket::Plain(tcp),
                Some(tls) => {
                    let name = rustls::pki_types::ServerName::try_from(host.to_string())
                        .map_err(|e| format!("invalid TLS server name `{host}`: {e}"))?;
                    let s = tls.connect(name, tcp).await.map_err(|e| {
                        format!("TLS handshake with {host}:{port} failed: {e}{}", hint(&e))
                    })?;
                    Socket::Tls(Box::new(s))
                }
            };
            let (sender, driver) = http1::Builder::new()
                .handshake(TokioIo::new(socket))
                .await
                .map_err(|e| format!("HTTP handshake with {host}:{port} failed: {e}"))?;
            Ok(Conn {
                sender,
                driver: Some(Box::pin(driver)),
                idle_since: Instant::now(),
            })
        };
        match tokio::time::timeout(self.connect_timeout, open).await {
            Ok(r) => r.map_err(TransportError::Connect),
            Err(_) => Err(TransportError::Timeout(format!(
                "connecting to {host}:{port} timed out"
            ))),
        }
    }

    /// A pooled connection that is still open, if there is one.
    fn checkout(&self) -> Option<Conn> {
        loop {
            let mut conn = self.idle.lock().ok()?.pop()?;
            if conn.idle_since.elapsed() > IDLE_TIMEOUT || conn.sender.is_closed() {
                continue;
            }
            // A server that closed the connection while it was idle has left an EOF to
            // read: the driver finishes on this poll and the connection is not used.
            let waker = futures::task::noop_waker();
            if conn
                .poll_driver(&mut Context::from_waker(&waker))
                .is_ready()
            {
                continue;
            }
            return Some(conn);
        }
    }

    fn checkin(&self, conn: Conn) {
        if conn.driver.is_none() || conn.sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(Conn {
                    idle_since: Instant::now(),
                    ..conn
                });
            }
        }
    }

    /// Sends `req` and waits for the answer's head. A pooled connection that the server
    /// closed before the request went out is replaced by a new one, once: hyper hands
    /// back a request it did not send.
    pub async fn send(
        self: &Arc<Self>,
        req: http::Request<Full<Bytes>>,
    ) -> Result<Answer, TransportError> {
        let (mut conn, reused) = match self.checkout() {
            Some(c) => (c, true),
            None => (self.connect().await?, false),
        };
        match Self::exchange(&mut conn, req).await {
            Ok(resp) => Ok(self.answer(conn, resp)),
            Err((_, Some(req))) if reused => {
                let mut conn = self.connect().await?;
                let resp = Self::exchange(&mut conn, req)
                    .await
                    .map_err(|(e, _)| TransportError::Connect(e.to_string()))?;
                Ok(self.answer(conn, resp))
            }
            Err((e, _)) => Err(TransportError::Connect(e.to_string())),
        }
    }

    /// One request on `conn`; a failure hands back the request if it was not sent.
    async fn exchange(
        conn: &mut Conn,
        req: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Incoming>, Unsent> {
        if let Err(e) = conn.drive(|sender, cx| sender.poll_ready(cx)).await {
            return Err((e, Some(req)));
        }
        let mut fut = Box::pin(conn.sender.try_send_request(req));
        conn.drive(|_, cx| fut.as_mut().poll(cx))
            .await
            .map_err(|mut e| {
                let req = e.take_message();
                (e.into_error(), req)
            })
    }

    fn answer(self: &Arc<Self>, conn: Conn, resp: http::Response<Incoming>) -> Answer {
        let (parts, body) = resp.into_parts();
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: DrivenBody {
                body,
                conn: Some(conn),
                client: Arc::clone(self),
            },
        }
    }
}

/// What to do about a certificate the roots do not vouch for.
fn hint(e: &io::Error) -> &'static str {
    let unknown_issuer = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|tls| {
            matches!(
                tls,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
            )
        });
    if unknown_issuer {
        " (trust a private certificate authority with the provider's `ca_file` or `SSL_CERT_FILE`)"
    } else {
        ""
    }
}

/// A response body that drives its own connection; at its end the connection goes
/// back to the pool, and dropped early it is closed.
pub(crate) struct DrivenBody {
    body: Incoming,
    conn: Option<Conn>,
    client: Arc<DirectClient>,
}

impl Stream for DrivenBody {
    type Item = Result<Bytes, String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut drove = false;
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Poll::Ready(Some(Ok(data))),
                    _ => continue,
                },
                Poll::Ready(Some(Err(e))) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e.to_string())));
                }
                Poll::Ready(None) => {
                    if let Some(mut conn) = this.conn.take() {
                        // Let the connection see the end of the message before reuse.
                        let _ = conn.poll_driver(cx);
                        this.client.checkin(conn);
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
            // The body waits on the connection, which nobody else drives.
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Pending;
            };
            if drove {
                return Poll::Pending;
            }
            drove = true;
            let _ = conn.poll_driver(cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_take_the_scheme_default_port() {
        let o = Origin::parse("https://api.openai.com/v1").unwrap();
        assert_eq!(
            (o.host.as_str(), o.port, o.tls),
            ("api.openai.com", 443, true)
        );
        let o = Origin::parse("http://[::1]:8000/v1").unwrap();
        assert_eq!((o.host.as_str(), o.port, o.tls), ("::1", 8000, false));
        assert_eq!(o.authority, "[::1]:8000");
        assert!(Origin::parse("ftp://x").is_err());
        assert!(Origin::parse("/v1").is_err());
    }
}
