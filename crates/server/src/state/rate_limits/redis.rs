//! A small Redis client for settling rate-limit counts (see `rate_limits.rs`).
//!
//! The client is a few dozen lines of RESP (the Redis protocol) over one
//! `TcpStream`: four commands in a pipeline do not justify the `redis` crate's
//! dependency tree.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A settle (connect, or one pipeline) that takes longer fails.
pub const TIMEOUT: Duration = Duration::from_millis(500);

/// Where Redis is: `redis://[[user]:password@]host[:port][/db]`.
#[derive(Clone)]
pub struct RedisConfig {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    db: u32,
}

impl std::fmt::Debug for RedisConfig {
    // Never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.address())
    }
}

impl RedisConfig {
    pub fn parse(url: &str) -> Result<RedisConfig, String> {
        let rest = url
            .strip_prefix("redis://")
            .ok_or("--redis-url must start with redis:// (TLS is not supported)")?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((h, "")) => (h, 0),
            Some((h, d)) => (
                h,
                d.parse()
                    .map_err(|_| "--redis-url: the database after / must be a number")?,
            ),
            None => (rest, 0),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, p) = v6
                .split_once(']')
                .ok_or("--redis-url: unclosed [ in the host")?;
            (h, p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err("--redis-url: the host is missing".into());
        }
        let port = match port {
            Some(p) => p
                .parse()
                .map_err(|_| "--redis-url: the port must be a number")?,
            None => 6379,
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| decode(u)), Some(decode(p))),
                None => (None, Some(decode(a))),
            },
        };
        Ok(RedisConfig {
            host: host.to_owned(),
            port,
            user,
            password,
            db,
        })
    }

    /// `host:port`, for logs.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Percent-decoding of the user and password.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            let v = (h * 16 + l) as u8;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A reply from Redis.
#[derive(Debug, PartialEq)]
pub enum Reply {
    Ok(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
    Error(String),
}

/// One connection speaking RESP.
pub struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    /// Connects, authenticates and selects the database, within [`TIMEOUT`].
    pub async fn open(cfg: &RedisConfig) -> std::io::Result<Conn> {
        tokio::time::timeout(TIMEOUT, Conn::open_inner(cfg))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))?
    }

    async fn open_inner(cfg: &RedisConfig) -> std::io::Result<Conn> {
        let tcp = TcpStream::connect((cfg.host.as_str(), cfg.port)).await?;
        tcp.set_nodelay(true)?;
        let mut c = Conn {
            stream: BufReader::new(tcp),
        };
        let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
        match (&cfg.user, &cfg.password) {
            (Some(u), Some(p)) => {
                cmds.push(vec![b"AUTH".to_vec(), u.clone().into(), p.clone().into()])
            }
            (None, Some(p)) => cmds.push(vec![b"AUTH".to_vec(), p.clone().into()]),
            _ => {}
        }
        if cfg.db != 0 {
            cmds.push(vec![b"SELECT".to_vec(), cfg.db.to_string().into()]);
        }
        cmds.push(vec![b"PING".to_vec()]);
        for r in c.pipeline(&cmds).await? {
            if let Reply::Error(e) = r {
                // The message of a failed AUTH names no secret.
                return Err(std::io::Error::other(format!("Redis refused: {e}")));
            }
        }
        Ok(c)
    }

    /// Sends every command, then reads one reply per command.
    pub async fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> std::io::Result<Vec<Reply>> {
        let mut out = Vec::with_capacity(cmds.len() * 64);
        for cmd in cmds {
            encode(cmd, &mut out);
        }
        self.stream.get_mut().write_all(&out).await?;
        let mut replies = Vec::with_capacity(cmds.len());
        for _ in cmds {
            replies.push(self.read_reply().await?);
        }
        Ok(replies)
    }

    async fn line(&mut self) -> std::io::Result<String> {
        let mut buf = Vec::new();
        self.stream.read_until(b'\n', &mut buf).await?;
        if !buf.ends_with(b"\r\n") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "Redis closed the connection",
            ));
        }
        buf.truncate(buf.len() - 2);
        String::from_utf8(buf).map_err(|_| bad("a reply line is not UTF-8"))
    }

    fn read_reply(
        &mut self,
    ) -> std::pin::Pin<Box<dyn Future<Output = std::io::Result<Reply>> + Send + '_>> {
        Box::pin(async move {
            let line = self.line().await?;
            let (kind, rest) = line.split_at_checked(1).ok_or_else(|| bad("empty reply"))?;
            let num = || {
                rest.parse::<i64>()
                    .map_err(|_| bad("a length is not a number"))
            };
            Ok(match kind {
                "+" => Reply::Ok(rest.to_owned()),
                "-" => Reply::Error(rest.to_owned()),
                ":" => Reply::Int(num()?),
                "$" => match num()? {
                    n if n < 0 => Reply::Bulk(None),
                    n => {
                        let mut data = vec![0; usize::try_from(n).map_err(|_| bad("length"))? + 2];
                        self.stream.read_exact(&mut data).await?;
                        data.truncate(data.len() - 2);
                        Reply::Bulk(Some(data))
                    }
                },
                "*" => match num()? {
                    n if n < 0 => Reply::Array(Vec::new()),
                    n => {
                        let mut items = Vec::new();
                        for _ in 0..n {
                            items.push(self.read_reply().await?);
                        }
                        Reply::Array(items)
                    }
                },
                _ => return Err(bad("an unknown reply type")),
            })
        })
    }
}

pub fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("Redis: {what}"))
}

/// A command as a RESP array of bulk strings.
fn encode(cmd: &[Vec<u8>], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", cmd.len()).as_bytes());
    for arg in cmd {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

pub fn cmd(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

/// Tries Redis once at start-up: a warning if it does not answer, never an error.
pub async fn check_at_start(cfg: &RedisConfig) {
    match Conn::open(cfg).await {
        Ok(_) => tracing::info!(
            redis = %cfg.address(),
            "rate limits hold across instances through Redis"
        ),
        Err(e) => tracing::warn!(
            redis = %cfg.address(),
            error = %e,
            "Redis does not answer; rate limits are enforced per instance until it does"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_parse_and_never_print_the_password() {
        let c = RedisConfig::parse("redis://127.0.0.1:6380/2").unwrap();
        assert_eq!(
            (c.address().as_str(), c.db, c.password),
            ("127.0.0.1:6380", 2, None)
        );
        let c = RedisConfig::parse("redis://:s%40cret@cache.internal").unwrap();
        assert_eq!(c.address(), "cache.internal:6379");
        assert_eq!(c.password.as_deref(), Some("s@cret"));
        assert_eq!(format!("{c:?}"), "cache.internal:6379");
        let c = RedisConfig::parse("redis://kg:pw@[::1]:7000").unwrap();
        assert_eq!(
            (c.address().as_str(), c.user.as_deref()),
            ("[::1]:7000", Some("kg"))
        );
        assert!(RedisConfig::parse("rediss://x").is_err());
        assert!(RedisConfig::parse("redis://x:port").is_err());
        assert!(RedisConfig::parse("redis://").is_err());
    }

    #[test]
    fn commands_are_resp_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode(&cmd(&["INCRBY", "k", "3"]), &mut out);
        assert_eq!(out, b"*3\r\n$6\r\nINCRBY\r\n$1\r\nk\r\n$1\r\n3\r\n");
    }
}
