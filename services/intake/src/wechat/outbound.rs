//! WeChat's HTTP API, outbound: the access token (cached until shortly before it expires,
//! fetched again after an `errcode` saying it went stale) and customer-service messages
//! (客服消息), which carry a ticket number when the ledger was too slow for the passive reply.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hotline_config::Secret;
use serde::Deserialize;
use tokio::sync::Mutex;

/// Refresh this long before WeChat's `expires_in` (7200 s) runs out.
const MARGIN: Duration = Duration::from_secs(300);
const TIMEOUT: Duration = Duration::from_secs(5);

/// Access tokens WeChat says are invalid or expired.
const STALE_TOKEN: [i64; 3] = [40001, 40014, 42001];

pub struct Outbound {
    http: reqwest::Client,
    base: String,
    app_id: String,
    secret: Option<Secret>,
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: Option<String>,
    expires_in: Option<u64>,
    errcode: Option<i64>,
}

#[derive(Deserialize)]
struct ApiReply {
    #[serde(default)]
    errcode: i64,
}

impl Outbound {
    pub fn new(base: &str, app_id: &str, secret: Option<Secret>) -> anyhow::Result<Outbound> {
        Ok(Outbound {
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .context("building the WeChat HTTP client")?,
            base: base.trim_end_matches('/').to_owned(),
            app_id: app_id.to_owned(),
            secret,
            token: Mutex::new(None),
        })
    }

    /// A valid access token, from the cache or fetched.
    async fn token(&self, refresh: bool) -> anyhow::Result<String> {
        let mut cached = self.token.lock().await;
        if !refresh
            && let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let Some(secret) = &self.secret else {
            bail!("wechat.app_secret is not set: no outbound messages");
        };
        let reply: TokenReply = self
            .http
            .get(format!("{}/cgi-bin/token", self.base))
            .query(&[
                ("grant_type", "client_credential"),
                ("appid", self.app_id.as_str()),
                ("secret", secret.expose()),
            ])
            .send()
            .await
            .context("asking WeChat for an access token")?
            .json()
            .await
            .context("reading WeChat's access token reply")?;
        let (Some(token), Some(expires_in)) = (reply.access_token, reply.expires_in) else {
            bail!(
                "WeChat refused an access token (errcode {:?})",
                reply.errcode
            );
        };
        let until = Instant::now() + Duration::from_secs(expires_in).saturating_sub(MARGIN);
        *cached = Some((token.clone(), until));
        Ok(token)
    }

    /// Sends `content` to the follower `open_id` as a customer-service text message (allowed
    /// within 48 hours of the follower's last message).
    pub async fn send_text(&self, open_id: &str, content: &str) -> anyhow::Result<()> {
        let body = serde_json::json!({
            "touser": open_id,
            "msgtype": "text",
            "text": { "content": content },
        });
        self.post("/cgi-bin/message/custom/send", &body).await
    }

    /// Sends a template message (模板消息: any time, for notices such as progress or a survey
    /// invitation): `data` maps the template's keys to their values.
    pub async fn send_template(
        &self,
        open_id: &str,
        template_id: &str,
        url: Option<&str>,
        data: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let data: serde_json::Map<String, serde_json::Value> = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::json!({ "value": v })))
            .collect();
        let mut body = serde_json::json!({
            "touser": open_id,
            "template_id": template_id,
            "data": data,
        });
        if let Some(url) = url {
            body["url"] = serde_json::Value::from(url);
        }
        self.post("/cgi-bin/message/template/send", &body).await
    }

    /// POSTs `body` to `path` with the access token, once more with a fresh token when WeChat
    /// says the cached one went stale.
    async fn post(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<()> {
        let mut refresh = false;
        loop {
            let token = self.token(refresh).await?;
            let reply: ApiReply = self
                .http
                .post(format!("{}{path}", self.base))
                .query(&[("access_token", token.as_str())])
                .json(body)
                .send()
                .await
                .with_context(|| format!("calling WeChat's {path}"))?
                .json()
                .await
                .with_context(|| format!("reading WeChat's reply to {path}"))?;
            match reply.errcode {
                0 => return Ok(()),
                code if STALE_TOKEN.contains(&code) && !refresh => refresh = true,
                code => bail!("WeChat refused {path} (errcode {code})"),
            }
        }
    }
}
