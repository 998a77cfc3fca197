//! The SMTP listener: accepts connections up to `email.max_connections`, reads lines with a
//! length limit under an idle and a whole-connection deadline, drives [`Session`] and hands
//! each message to a [`Deliver`].
//!
//! A message is answered only when [`Deliver`] has answered, so `250` means the ticket is in
//! the ledger (and `451` asks the sending server to retry: the message's key makes the retry
//! the same ticket).
//!
//! Nothing here logs an address or a peer: only reasons.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::metrics;
use super::smtp::{DataReader, Envelope, Identity, Limits, Next, Reply, Session};

/// Takes a message once its transaction and data are complete, and answers the final reply.
pub trait Deliver: Send + Sync + 'static {
    fn deliver(&self, envelope: Envelope, message: Vec<u8>) -> BoxFuture<'_, Reply>;
}

/// The listener's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub identity: Arc<Identity>,
    pub limits: Limits,
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub connection_timeout: Duration,
}

/// Serves SMTP on `listener` until `stop`; then lets open sessions end (each answers 421 at
/// its next read) and returns.
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    deliver: Arc<dyn Deliver>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let sessions = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "SMTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                metrics::CONNECTIONS.with_label_values(&["served"]).inc();
                let config = config.clone();
                let deliver = deliver.clone();
                let stop = stop.clone();
                sessions.spawn(async move {
                    run_session(stream, &config, deliver.as_ref(), &stop).await;
                    drop(slot);
                });
            }
            Err(_) => {
                metrics::CONNECTIONS.with_label_values(&["busy"]).inc();
                metrics::refused("too_many_connections");
                let host = config.identity.hostname.clone();
                sessions.spawn(async move {
                    let mut stream = stream;
                    let reply = Reply::new(
                        421,
                        format!("4.7.0 {host} Too many connections, try again later"),
                    );
                    let _ = tokio::time::timeout(
                        Duration::from_secs(5),
                        stream.write_all(reply.wire().as_bytes()),
                    )
                    .await;
                    let _ = stream.shutdown().await;
                });
            }
        }
    }
    sessions.close();
    sessions.wait().await;
    Ok(())
}

/// How a read ended.
enum Read {
    /// A line; `true` when it was longer than the limit and cut.
    Line(bool),
    Closed,
    Idle,
    Expired,
    Stopping,
}

/// One connection, from the greeting to QUIT, a timeout, an error or shutdown.
async fn run_session(
    stream: TcpStream,
    config: &ServerConfig,
    deliver: &dyn Deliver,
    stop: &CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let deadline = Instant::now() + config.connection_timeout;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut session = Session::new(config.identity.clone(), config.limits);
    let mut line = Vec::with_capacity(256);
    if !send(&mut write, &session.greeting(), config).await {
        return;
    }
    loop {
        let read = next_line(&mut reader, &mut line, config, deadline, stop).await;
        let next = match read {
            Read::Line(true) => session.line_too_long(),
            Read::Line(false) => session.command(&line),
            other => {
                end(&mut write, other, config).await;
                return;
            }
        };
        match next {
            Next::Reply(reply) => {
                if !send(&mut write, &reply, config).await {
                    return;
                }
            }
            Next::Close(reply) => {
                send(&mut write, &reply, config).await;
                let _ = write.shutdown().await;
                return;
            }
            Next::Data(go_ahead) => {
                if !send(&mut write, &go_ahead, config).await {
                    return;
                }
                let mut data = DataReader::new(&config.limits);
                loop {
                    match next_line(&mut reader, &mut line, config, deadline, stop).await {
                        Read::Line(too_long) => {
                            if data.line(&line, too_long) {
                                break;
                            }
                        }
                        other => {
                            // The message is incomplete: nothing of it is kept.
                            end(&mut write, other, config).await;
                            return;
                        }
                    }
                }
                let Some(envelope) = session.end_data() else {
                    return;
                };
                let reply = match data.finish() {
                    Ok(message) => deliver.deliver(envelope, message).await,
                    Err(refusal) => refusal,
                };
                if !send(&mut write, &reply, config).await {
                    return;
                }
            }
        }
    }
}

/// Says why the connection ends (nothing when the client went away).
async fn end<W: AsyncWrite + Unpin>(write: &mut W, why: Read, config: &ServerConfig) {
    let host = &config.identity.hostname;
    let reply = match why {
        Read::Idle => Reply::refuse(
            421,
            format!("4.4.2 {host} Idle too long, closing connection"),
            "idle_timeout",
        ),
        Read::Expired => Reply::refuse(
            421,
            format!("4.4.2 {host} Connection time limit reached, closing connection"),
            "connection_timeout",
        ),
        Read::Stopping => Reply::refuse(
            421,
            format!("4.3.2 {host} Shutting down, try again later"),
            "shutting_down",
        ),
        Read::Closed | Read::Line(_) => return,
    };
    send(write, &reply, config).await;
    let _ = write.shutdown().await;
}

/// Writes `reply` (counting a refusal); `false` when the client is gone or too slow.
async fn send<W: AsyncWrite + Unpin>(write: &mut W, reply: &Reply, config: &ServerConfig) -> bool {
    if let Some(reason) = reply.reason() {
        metrics::refused(reason);
    }
    let wire = reply.wire();
    let written = tokio::time::timeout(config.idle_timeout, async {
        write.write_all(wire.as_bytes()).await?;
        write.flush().await
    })
    .await;
    matches!(written, Ok(Ok(())))
}

/// The next line, within the idle timeout and the connection's deadline, unless shutdown
/// comes first.
async fn next_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    config: &ServerConfig,
    deadline: Instant,
    stop: &CancellationToken,
) -> Read {
    let idle_until = Instant::now() + config.idle_timeout;
    let until = idle_until.min(deadline);
    tokio::select! {
        () = stop.cancelled() => Read::Stopping,
        read = tokio::time::timeout_at(until, read_line(reader, line, config.limits.max_line_bytes)) => match read {
            Ok(Ok(Some(too_long))) => Read::Line(too_long),
            Ok(Ok(None) | Err(_)) => Read::Closed,
            Err(_) if until >= deadline => Read::Expired,
            Err(_) => Read::Idle,
        },
    }
}

/// Reads one line into `out` without its CR LF (a bare LF ends a line too), keeping at most
/// `max` octets counting the line end; `Some(true)` when the line was longer and cut (the rest
/// is read and dropped), `None` at the end of the stream.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    out.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            // A line cut off by the end of the stream is no line.
            return Ok(None);
        }
        let (chunk, complete) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = max.saturating_sub(out.len());
        if chunk.len() > room {
            out.extend_from_slice(&chunk[..room]);
            too_long = true;
        } else {
            out.extend_from_slice(chunk);
        }
        let used = chunk.len();
        reader.consume(used);
        if complete {
            if !too_long {
                if out.last() == Some(&b'\n') {
                    out.pop();
                }
                if out.last() == Some(&b'\r') {
                    out.pop();
                }
            }
            return Ok(Some(too_long));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_end_at_lf_and_long_ones_are_cut_and_skipped() {
        let input: &[u8] = b"EHLO a\r\nbare lf\n0123456789ABCDEF\r\nnext\r\npartial";
        let mut reader = BufReader::with_capacity(4, input);
        let mut line = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut line, 10).await.ok(),
            Some(Some(false))
        );
        assert_eq!(line, b"EHLO a");
        assert_eq!(
            read_line(&mut reader, &mut line, 10).await.ok(),
            Some(Some(false))
        );
        assert_eq!(line, b"bare lf");
        assert_eq!(
            read_line(&mut reader, &mut line, 10).await.ok(),
            Some(Some(true))
        );
        assert_eq!(line.len(), 10, "kept up to the limit");
        assert_eq!(
            read_line(&mut reader, &mut line, 10).await.ok(),
            Some(Some(false))
        );
        assert_eq!(line, b"next", "the rest of the long line was skipped");
        assert_eq!(read_line(&mut reader, &mut line, 10).await.ok(), Some(None));
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_fits() {
        let input: &[u8] = b"12345678\r\n";
        let mut reader = BufReader::new(input);
        let mut line = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut line, 10).await.ok(),
            Some(Some(false))
        );
        assert_eq!(line, b"12345678");
    }
}
