//! Typed, layered configuration: built-in defaults, then an optional TOML file, then environment
//! variables `HOTLINE__SECTION__KEY` (and the conventional `NATS_URL`, `DATABASE_URL`,
//! `REDIS_URL`). Validated before any port is bound.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

mod nats;
pub use nats::{Nats, NatsAuth, Secret, StreamStorage};

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Prefix of every NATS subject and stream; lets several cities or test runs share a NATS.
    pub namespace: String,
    /// The local demo: demo api key and department credentials (README lists them).
    pub demo: bool,
    pub listen: Listen,
    pub nats: Nats,
    pub database: Database,
    pub redis: Redis,
    /// The transactional outbox relay of every service that has one (tickets, sla, knowledge).
    pub outbox: Outbox,
    pub telemetry: Telemetry,
    pub city: City,
    pub intake: Intake,
    pub tickets: Tickets,
    pub dispatch: Dispatch,
    pub gateway: Gateway,
    pub knowledge: Knowledge,
    pub sla: Sla,
    pub survey: Survey,
    pub console: Console,
    pub identity: Identity,
    pub auth: Auth,
    pub wechat: Wechat,
    pub phone: Phone,
    pub email: Email,
    pub app: App,
    pub sms: Sms,
    pub notify: Notify,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Listen {
    /// 127.0.0.1 on a laptop; 0.0.0.0 in a container.
    pub host: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Database {
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Redis {
    pub url: String,
}

/// `[outbox]`: the relay's leadership lease and how a stuck relay shows.
#[derive(Debug, Clone, Deserialize)]
pub struct Outbox {
    /// How long the relay's leader holds its lease without renewing it (renewed every third of
    /// it): a frozen leader loses the outbox to another replica within this.
    pub lease_secs: u64,
    /// The leader's `/readyz` turns false once the oldest event waiting in the outbox is older
    /// than this.
    pub stuck_after_secs: u64,
    /// How often every replica reports the outbox's depth and oldest age (the gauges).
    pub gauge_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Telemetry {
    /// OTLP/gRPC endpoint, e.g. http://127.0.0.1:4317. No export when unset.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    pub log_filter: String,
    /// `text` or `json`.
    pub log_format: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct City {
    pub name: String,
    /// The hotline centre's department code: its credential reviews and publishes knowledge.
    pub centre: String,
    pub utc_offset_hours: i32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Intake {
    pub port: u16,
    /// Keys accepted on Open311 POST. Empty: nobody can file through Open311 until an operator
    /// configures one (the demo adds `demo-open311-key`).
    pub open311_api_keys: Vec<String>,
    pub max_description_chars: usize,
    pub jurisdiction_id: String,
    /// Open311 POSTs one api key may make per minute (counted in Redis across replicas; a city
    /// app files for many citizens, so this is per caller, not per address); 0: no limit.
    pub open311_posts_per_key_per_minute: u32,
}

/// The phone channel (`hotline phone`, services/intake/src/phone): CTI events from the call
/// platform and the agents' work during a call.
#[derive(Debug, Clone, Deserialize)]
pub struct Phone {
    pub port: u16,
    /// The shared token the call platform sends with every CTI event. Unset: the channel
    /// refuses to start unless `demo` supplies `demo-cti-token`.
    #[serde(default)]
    pub cti_token: Option<Secret>,
    /// A call answered within this many seconds of ringing counts as answered on target.
    pub answer_target_secs: u64,
    /// After a hang-up, a ticket of the call still held from dispatch is released this many
    /// seconds later at the latest (the agent's wrap-up time; the agent may finish sooner).
    pub wrap_up_secs: u64,
}

/// The email channel (`hotline email`, services/intake/src/email): an SMTP server that takes
/// mail for `mailbox@domain`, and auto-replies with the ticket number through a relay.
#[derive(Debug, Clone, Deserialize)]
pub struct Email {
    /// SMTP (2525 in the local run; the city's MX forwards port 25 here in production).
    pub port: u16,
    /// `/healthz`, `/readyz`, `/metrics` and the staff's attachment downloads.
    pub http_port: u16,
    /// The mail domain the hotline receives for; also the name in the greeting.
    pub domain: String,
    /// The one local part taken (`12345`: mail to 12345@hotline.local); any other is refused
    /// at RCPT with 550.
    pub mailbox: String,
    /// Largest message, as advertised in EHLO's SIZE (552 beyond it).
    pub max_message_bytes: u64,
    /// Most RCPT TO in one transaction (452 beyond it).
    pub max_recipients: usize,
    /// Longest command or text line, CRLF included (RFC 5321 asks for at least 1000).
    pub max_line_bytes: usize,
    /// Connections served at once; one more is answered 421 and closed.
    pub max_connections: usize,
    /// Silence from a client for this long ends its connection with 421.
    pub idle_timeout_secs: u64,
    /// No connection lasts longer than this (421), whatever it sends.
    pub connection_timeout_secs: u64,
    pub max_attachments: usize,
    pub max_attachment_bytes: u64,
    /// MIME types taken as attachments (`type/subtype`, or `type/*`); a message carrying any
    /// other is refused with 554 5.6.1.
    pub attachment_types: Vec<String>,
    /// The relay auto-replies go through; unset: no auto-replies.
    #[serde(default)]
    pub relay_host: Option<String>,
    pub relay_port: u16,
    /// The auto-replies' From; empty: `mailbox@domain`.
    #[serde(default)]
    pub from_address: String,
}

/// The mobile app's API (`hotline app`, services/intake/src/app): citizen accounts by phone
/// number and a one-time code, tokens, tickets with photos and GPS.
#[derive(Debug, Clone, Deserialize)]
pub struct App {
    pub port: u16,
    /// The `iss` of the app's access tokens (their `aud` is always `hotline-app`).
    pub issuer: String,
    /// Access tokens are short: a stolen one is useful for minutes, not days.
    pub access_token_secs: u64,
    /// Refresh tokens, rotated on every use.
    pub refresh_token_days: u64,
    /// A one-time code's life and the wrong guesses it survives.
    pub code_ttl_secs: u64,
    pub code_max_tries: u32,
    /// Codes sent per phone number and per client address in `code_window_secs`.
    pub codes_per_phone: u32,
    pub codes_per_client: u32,
    pub code_window_secs: u64,
    /// The push provider's endpoint; unset: device registration answers 404.
    #[serde(default)]
    pub push_endpoint: Option<String>,
}

/// The SMS channel (`hotline sms`, services/intake/src/sms): the gateway's callbacks for
/// inbound SMS, and outbound SMS (receipts, progress, one-time codes) through the gateway's
/// HTTP API. No `provider_url`: nothing is sent and `hotline all` does not start the channel.
#[derive(Debug, Clone, Deserialize)]
pub struct Sms {
    /// `POST /sms/inbound` (the gateway's callback), `/healthz`, `/readyz`, `/metrics`.
    pub port: u16,
    /// The gateway's send endpoint (a full URL, POSTed to); tests point it at a fake.
    #[serde(default)]
    pub provider_url: Option<String>,
    /// Our account at the gateway, sent as `X-Sms-Key`.
    #[serde(default)]
    pub access_key_id: String,
    /// Signs what we send to the gateway (HMAC-SHA256).
    #[serde(default)]
    pub provider_secret: Option<Secret>,
    /// Signs what the gateway sends us; unset: `hotline sms` refuses to start.
    #[serde(default)]
    pub inbound_secret: Option<Secret>,
    /// Keys the hash that stands for a phone number in the STOP list and the Redis limits, so
    /// neither holds a number and the hashes cannot be reversed by enumerating numbers.
    #[serde(default)]
    pub number_key: Option<Secret>,
    /// The registered signature (签名) the gateway puts in front of every message.
    pub sign_name: String,
    /// The gateway's codes of our approved templates (模板).
    pub templates: SmsTemplates,
    /// Callbacks whose timestamp is further than this from now are refused (replays).
    pub timestamp_window_secs: u64,
    /// Most messages to one number in a rolling clock hour.
    pub max_per_hour: u32,
    /// At most one one-time code to a number within this many seconds.
    pub one_time_code_interval_secs: u64,
    /// Copied from the platform's sections at load, so a provider is built from this section
    /// alone (the STOP list is in Postgres, the limits in Redis).
    #[serde(skip)]
    pub stores: SmsStores,
}

/// The gateway's template codes, one per kind of message we send.
#[derive(Debug, Clone, Deserialize)]
pub struct SmsTemplates {
    pub receipt: String,
    pub progress: String,
    pub survey: String,
    pub one_time_code: String,
}

/// Where the SMS channel keeps its state: `namespace`, `redis.url`, `database.url`.
#[derive(Clone, Default)]
pub struct SmsStores {
    pub namespace: String,
    pub redis_url: String,
    pub database_url: String,
}

/// The URLs may carry passwords: shown as their sections' names only.
impl std::fmt::Debug for SmsStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsStores")
            .field("namespace", &self.namespace)
            .field("redis_url", &"(redis.url)")
            .field("database_url", &"(database.url)")
            .finish()
    }
}

/// The WeChat official-account channel (`hotline wechat`, services/intake/src/wechat).
/// Empty credentials: the channel refuses to start unless `demo` supplies the demo ones.
#[derive(Debug, Clone, Deserialize)]
pub struct Wechat {
    pub port: u16,
    /// The server token set in the WeChat console (3-32 letters and digits): signs requests.
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub app_id: String,
    /// Safe mode's 43-character EncodingAESKey; unset: plaintext mode only.
    #[serde(default)]
    pub encoding_aes_key: Option<Secret>,
    /// AppSecret, for the access token of outbound (customer-service) messages.
    #[serde(default)]
    pub app_secret: Option<Secret>,
    /// WeChat's HTTP API (https://api.weixin.qq.com); tests point it at a fake.
    pub api_base_url: String,
    /// Requests whose timestamp is further than this from now are refused (replays).
    pub timestamp_window_secs: u64,
    /// Messages from one follower within this many seconds of the last belong to one
    /// conversation (one ticket; later ones are added to it). 0: no grouping.
    pub conversation_window_secs: u64,
}

/// Notices to citizens (`hotline notify`, services/intake/src/notify): no API of its own, so
/// its port serves only `/healthz`, `/readyz` and `/metrics`.
#[derive(Debug, Clone, Deserialize)]
pub struct Notify {
    pub port: u16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tickets {
    pub port: u16,
    /// Most commands committed in one transaction (group commit).
    pub batch_max: usize,
    /// The duplicate finder (并单 suggestions): `[tickets.duplicates]`.
    pub duplicates: Duplicates,
}

/// What counts as the same matter when the tickets service suggests duplicates (并单): the same
/// citizen within `citizen_days`, or the same place and matter within `place_days`.
#[derive(Debug, Clone, Deserialize)]
pub struct Duplicates {
    /// How far back a ticket of the same citizen (phone number or account) is suggested.
    pub citizen_days: u32,
    /// How far back a ticket at the same place on the same matter is suggested.
    pub place_days: u32,
    /// Coordinates this close (metres) are the same place.
    pub radius_m: u32,
    /// Without a matter code on both sides, the texts must be at least this similar (Jaccard
    /// index of their character bigrams, 0-1) for the same place to be the same matter.
    pub text_similarity: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dispatch {
    pub port: u16,
    /// A classifier model file (`hotline dispatch train` writes one) instead of the one built
    /// in; empty for the built-in model.
    #[serde(default)]
    pub model_file: String,
    /// Ask the knowledge service which matter a free text is about (narrows the class to a
    /// matter code); off, the matters' names and keywords alone decide.
    pub knowledge_hints: bool,
    /// How long a decision waits for the knowledge service's hints before going on without.
    pub knowledge_timeout_ms: u64,
    /// Dispatch free text without a person when the classifier is sure (its threshold); off,
    /// every ticket without a matter code waits in the manual queue with the suggestions.
    pub auto_dispatch: bool,
}

/// The knowledge service (知识库).
#[derive(Debug, Clone, Deserialize)]
pub struct Knowledge {
    pub port: u16,
    /// Longest accepted search query, in bytes; longer ones get 400 (a ticket's text goes to
    /// the suggestion endpoint, which takes up to `max_text_bytes`).
    pub max_query_bytes: usize,
    /// Longest accepted ticket text for answer suggestions, in bytes.
    pub max_text_bytes: usize,
    /// Largest accepted import file (mind map, OPML, CSV), in bytes.
    pub max_import_bytes: usize,
    /// Working days a department has to update an item after a policy change (default 5).
    pub update_task_working_days: u32,
}

/// SLA supervision (时限监督).
#[derive(Debug, Clone, Deserialize)]
pub struct Sla {
    pub port: u16,
    /// A TOML file overriding the default policy (limits, warning share, extension cap, ladder).
    #[serde(default)]
    pub policy_file: Option<String>,
    /// A TOML file with the city's own calendar days (added to the State Council's).
    #[serde(default)]
    pub calendar_file: Option<String>,
    /// How often each replica looks for deadlines that came due, in milliseconds.
    pub poll_interval_ms: u64,
    /// Most deadlines fired in one transaction.
    pub fire_batch: u32,
}

/// The web console (`hotline console`, services/console): sign-in at `[auth]`'s issuer,
/// server-side sessions in Redis, the services' APIs called with the person's token.
#[derive(Debug, Clone, Deserialize)]
pub struct Console {
    pub port: u16,
    /// The URL people open, without a trailing slash; empty: [`Settings::console_public_url`]
    /// derives it from `listen.host` and `port`.
    pub public_url: String,
    /// The console's OAuth client at the issuer (a public client: PKCE, no secret).
    pub client_id: String,
    /// A session unused this long is over.
    pub idle_timeout_secs: u64,
    /// A session is over this long after sign-in, however busy.
    pub max_session_secs: u64,
    /// Base URLs of the tickets, dispatch and SLA APIs; empty: this machine, the service's port.
    pub tickets_url: String,
    pub dispatch_url: String,
    pub sla_url: String,
    /// Base URLs of the phone channel's and the knowledge APIs (the agent desk); empty: this
    /// machine, the service's port.
    pub phone_url: String,
    pub knowledge_url: String,
    /// Base URL of the survey API (the supervisor's satisfaction figures); empty: this machine.
    #[serde(default)]
    pub survey_url: String,
    /// How long one call to a service may take.
    pub request_timeout_ms: u64,
    /// How long the supervisor's counts (board, report, hotspots) are kept before they are read
    /// again behind the page; 0: read on every view.
    #[serde(default = "default_figures_max_age_secs")]
    pub figures_max_age_secs: u64,
}

fn default_figures_max_age_secs() -> u64 {
    30
}

/// The callback survey (回访): scheduling on the working calendar, retries, links, reopens.
#[derive(Debug, Clone, Deserialize)]
pub struct Survey {
    pub port: u16,
    /// The base of the links citizens get (`<public_url>/s/<token>`).
    pub public_url: String,
    /// Signs the links; unset outside the demo: `hotline survey` refuses to start.
    #[serde(default)]
    pub link_secret: Option<Secret>,
    pub delay_working_days: u32,
    /// Local hour (0-23) at which a due callback is placed on its working day.
    pub call_hour: u32,
    pub max_attempts: u32,
    pub retry_after_minutes: u32,
    pub link_valid_hours: u32,
    pub max_reopens: u32,
    pub first_contact_days: u32,
    pub poll_interval_ms: u64,
    pub fire_batch: u32,
}

/// How the people's APIs verify a bearer token (JWT) from the OpenID Connect issuer: the
/// platform's own (services/identity) in the local run, the city's provider in production.
#[derive(Debug, Clone, Deserialize)]
pub struct Auth {
    /// The `iss` every token must carry, exactly (no trailing slash added or removed).
    pub issuer: String,
    /// The `aud` a token must name (a string or one entry of an array).
    pub audience: String,
    /// Where the signing keys are; empty: from discovery at `issuer/.well-known/openid-configuration`.
    pub jwks_uri: String,
    /// The claim holding the role names (a city's provider may use its own).
    pub roles_claim: String,
    /// The claim holding the department code of department staff and knowledge editors.
    pub department_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// How often the keys are fetched again (an unknown `kid` also fetches, rate-limited).
    pub jwks_refresh_secs: u64,
}

/// The platform's own OpenID Connect issuer (services/identity): the local run's sign-in.
/// Production may point `[auth]` at the city's provider instead and not run it at all.
#[derive(Debug, Clone, Deserialize)]
pub struct Identity {
    pub port: u16,
    /// The `iss` of every token and the base of every endpoint URL in discovery: the URL
    /// people and verifiers reach the issuer at, without a trailing slash.
    pub issuer: String,
    /// The `aud` of access tokens (verifiers check `auth.audience`).
    pub audience: String,
    pub access_token_secs: u64,
    /// Lifetime of each refresh token; every use rotates it (a sliding sign-in).
    pub refresh_token_secs: u64,
    /// Lifetime of an authorization code (single use).
    pub code_secs: u64,
    /// Consecutive wrong passwords that lock an account ...
    pub lockout_failures: u32,
    /// ... for this long.
    pub lockout_secs: u64,
    /// The applications allowed to ask for tokens.
    pub clients: Vec<IdentityClient>,
}

/// A public OAuth client (no secret: PKCE protects its codes).
#[derive(Debug, Clone, Deserialize)]
pub struct IdentityClient {
    pub client_id: String,
    /// Where codes may be sent, compared exactly (no prefix or pattern matching).
    pub redirect_uris: Vec<String>,
    /// Whether scripts may use `grant_type=password` with this client id.
    #[serde(default)]
    pub password_grant: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Gateway {
    pub port: u16,
    pub grpc_port: u16,
    /// Department credentials: the SHA-256 (hex) of each department's token; the token itself
    /// is never stored.
    pub credentials: Vec<Credential>,
    #[serde(default)]
    pub tls: Option<GatewayTls>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Credential {
    pub department: String,
    pub token_sha256: String,
}

/// mTLS for the gRPC port: departments present a client certificate signed by `client_ca`.
#[derive(Debug, Clone, Deserialize)]
pub struct GatewayTls {
    pub cert: String,
    pub key: String,
    pub client_ca: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

pub const DEFAULTS: &str = include_str!("defaults.toml");

impl Settings {
    /// Every port a process of the platform listens on, by its key (`section.key`; the
    /// variable is `HOTLINE__SECTION__KEY`): one list for whatever moves them all (tests and
    /// benches that run `hotline all` beside a local platform). A test checks it against every
    /// `port` and `*_port` of the defaults.
    pub fn listen_ports_mut(&mut self) -> Vec<(&'static str, &mut u16)> {
        vec![
            ("intake.port", &mut self.intake.port),
            ("tickets.port", &mut self.tickets.port),
            ("dispatch.port", &mut self.dispatch.port),
            ("gateway.port", &mut self.gateway.port),
            ("gateway.grpc_port", &mut self.gateway.grpc_port),
            ("knowledge.port", &mut self.knowledge.port),
            ("identity.port", &mut self.identity.port),
            ("console.port", &mut self.console.port),
            ("sla.port", &mut self.sla.port),
            ("survey.port", &mut self.survey.port),
            ("wechat.port", &mut self.wechat.port),
            ("phone.port", &mut self.phone.port),
            ("app.port", &mut self.app.port),
            ("email.port", &mut self.email.port),
            ("email.http_port", &mut self.email.http_port),
            ("sms.port", &mut self.sms.port),
            ("notify.port", &mut self.notify.port),
        ]
    }

    /// [`Settings::listen_ports_mut`] read-only, with each key's environment variable.
    pub fn listen_ports(&self) -> Vec<(String, u16)> {
        let mut copy = self.clone();
        copy.listen_ports_mut()
            .into_iter()
            .map(|(key, port)| (port_variable(key), *port))
            .collect()
    }

    /// Defaults, then `file`, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Same as [`Settings::load`] with an explicit environment (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let env: std::collections::HashMap<String, String> = env.into_iter().collect();
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        // The conventional variables, below HOTLINE__ ones. An override outranks every source,
        // the environment's too, so one is set only when no HOTLINE__ variable names the same
        // key (a process given both, like the bench's children, must take the HOTLINE__ one).
        for (var, key, hotline_var) in [
            ("NATS_URL", "nats.url", "HOTLINE__NATS__URL"),
            ("DATABASE_URL", "database.url", "HOTLINE__DATABASE__URL"),
            ("REDIS_URL", "redis.url", "HOTLINE__REDIS__URL"),
        ] {
            if env.contains_key(hotline_var) {
                continue;
            }
            if let Some(value) = env.get(var).filter(|v| !v.is_empty()) {
                builder = builder.set_override(key, value.clone())?;
            }
        }
        let hotline_env: std::collections::HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("HOTLINE__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("HOTLINE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("intake.open311_api_keys")
                .with_list_parse_key("email.attachment_types")
                .source(Some(hotline_env)),
        );
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        settings.sms.stores = SmsStores {
            namespace: settings.namespace.clone(),
            redis_url: settings.redis.url.clone(),
            database_url: settings.database.url.clone(),
        };
        settings.register_console_callback();
        settings.validate()?;
        Ok(settings)
    }

    /// The host other processes on this machine reach our listeners at.
    fn local_host(&self) -> &str {
        if self.listen.host == "0.0.0.0" || self.listen.host == "::" {
            "127.0.0.1"
        } else {
            &self.listen.host
        }
    }

    /// The console's public base URL: `console.public_url`, else this machine's address and the
    /// console's port.
    pub fn console_public_url(&self) -> String {
        if self.console.public_url.is_empty() {
            format!("http://{}:{}", self.local_host(), self.console.port)
        } else {
            self.console.public_url.clone()
        }
    }

    /// `configured`, else the service on this machine at `port` (the local run, `hotline all`).
    pub fn local_service_url(&self, configured: &str, port: u16) -> String {
        if configured.is_empty() {
            format!("http://{}:{port}", self.local_host())
        } else {
            configured.trim_end_matches('/').to_owned()
        }
    }

    /// The console's own callback is always a redirect URI of its client: its public URL is
    /// configured once (`[console]`), not a second time in `[[identity.clients]]`, so a console
    /// moved to another port or host (tests, an ingress) still signs people in.
    fn register_console_callback(&mut self) {
        let callback = format!("{}/auth/callback", self.console_public_url());
        if let Some(client) = self
            .identity
            .clients
            .iter_mut()
            .find(|c| c.client_id == self.console.client_id)
            && !client.redirect_uris.contains(&callback)
        {
            client.redirect_uris.push(callback);
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.namespace.is_empty()
            || !self
                .namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return invalid(format!(
                "namespace {:?} must be letters, digits, '-' or '_'",
                self.namespace
            ));
        }
        for (name, url, schemes) in [
            ("nats.url", &self.nats.url, &["nats://", "tls://"][..]),
            (
                "database.url",
                &self.database.url,
                &["postgres://", "postgresql://"][..],
            ),
            (
                "redis.url",
                &self.redis.url,
                &["redis://", "rediss://", "unix://"][..],
            ),
        ] {
            if !schemes.iter().any(|s| url.starts_with(s)) {
                return invalid(format!("{name} must start with one of {schemes:?}"));
            }
        }
        self.nats.validate()?;
        let ports = [
            ("intake.port", self.intake.port),
            ("tickets.port", self.tickets.port),
            ("dispatch.port", self.dispatch.port),
            ("gateway.port", self.gateway.port),
            ("gateway.grpc_port", self.gateway.grpc_port),
            ("knowledge.port", self.knowledge.port),
            ("sla.port", self.sla.port),
            ("survey.port", self.survey.port),
            ("identity.port", self.identity.port),
            ("wechat.port", self.wechat.port),
            ("phone.port", self.phone.port),
            ("email.port", self.email.port),
            ("email.http_port", self.email.http_port),
            ("app.port", self.app.port),
            ("sms.port", self.sms.port),
            ("notify.port", self.notify.port),
            ("console.port", self.console.port),
        ];
        let mut seen = HashSet::new();
        for (name, port) in ports {
            if port == 0 {
                return invalid(format!("{name} must not be 0"));
            }
            if !seen.insert(port) {
                return invalid(format!("{name} {port} is used twice"));
            }
        }
        if !(-12..=14).contains(&self.city.utc_offset_hours) {
            return invalid("city.utc_offset_hours must be between -12 and 14".into());
        }
        if self.intake.max_description_chars == 0
            || self.tickets.batch_max == 0
            || self.database.max_connections == 0
            || self.knowledge.max_query_bytes == 0
            || self.knowledge.max_text_bytes == 0
            || self.knowledge.max_import_bytes == 0
            || self.knowledge.update_task_working_days == 0
            || self.sla.poll_interval_ms == 0
            || self.sla.fire_batch == 0
        {
            return invalid("limits must be positive".into());
        }
        if !self.auth.issuer.starts_with("http://") && !self.auth.issuer.starts_with("https://") {
            return invalid("auth.issuer must be an http(s) URL".into());
        }
        if !self.auth.jwks_uri.is_empty()
            && !self.auth.jwks_uri.starts_with("http://")
            && !self.auth.jwks_uri.starts_with("https://")
        {
            return invalid("auth.jwks_uri must be empty or an http(s) URL".into());
        }
        if self.auth.audience.trim().is_empty()
            || self.auth.roles_claim.trim().is_empty()
            || self.auth.department_claim.trim().is_empty()
        {
            return invalid("auth.audience, roles_claim and department_claim must be set".into());
        }
        if self.auth.jwks_refresh_secs == 0 || self.auth.leeway_secs > 300 {
            return invalid(
                "auth.jwks_refresh_secs must be positive and auth.leeway_secs at most 300".into(),
            );
        }
        self.validate_outbox()?;
        self.validate_identity()?;
        self.validate_duplicates()?;
        self.validate_wechat()?;
        self.validate_survey()?;
        self.validate_console()?;
        if self.dispatch.knowledge_timeout_ms == 0 || self.dispatch.knowledge_timeout_ms > 5_000 {
            return invalid("dispatch.knowledge_timeout_ms must be 1-5000".into());
        }
        self.validate_phone()?;
        self.validate_email()?;
        self.validate_sms()?;
        self.validate_app()?;
        if !matches!(self.telemetry.log_format.as_str(), "text" | "json") {
            return invalid("telemetry.log_format must be text or json".into());
        }
        for c in &self.gateway.credentials {
            if c.token_sha256.len() != 64 || !c.token_sha256.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return invalid(format!(
                    "gateway credential for {} must be a SHA-256 hex digest",
                    c.department
                ));
            }
        }
        if self
            .intake
            .open311_api_keys
            .iter()
            .any(|k| k.trim().len() < 8)
        {
            return invalid("open311 api keys must be at least 8 characters".into());
        }
        Ok(())
    }

    fn validate_outbox(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let o = &self.outbox;
        // A third of the lease is both the renewal period and the relay's query timeout: below
        // a second, a slow query or a GC-length pause would cost the leader its lease. Above
        // five minutes a frozen leader holds the events back for longer than anyone would wait.
        if !(4..=300).contains(&o.lease_secs) {
            return invalid("outbox.lease_secs must be more than 3 and at most 300");
        }
        // A take-over alone holds events back for up to a lease and a poll: that must not look
        // stuck.
        if o.stuck_after_secs < 2 * o.lease_secs {
            return invalid("outbox.stuck_after_secs must be at least twice outbox.lease_secs");
        }
        if o.gauge_interval_secs == 0 || o.gauge_interval_secs > o.stuck_after_secs / 2 {
            return invalid(
                "outbox.gauge_interval_secs must be positive and at most half of stuck_after_secs",
            );
        }
        Ok(())
    }

    fn validate_console(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let c = &self.console;
        let is_http = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        if !c.public_url.is_empty() && (!is_http(&c.public_url) || c.public_url.ends_with('/')) {
            return invalid(
                "console.public_url must be empty or an http(s) URL without a trailing slash",
            );
        }
        for url in [
            &c.tickets_url,
            &c.dispatch_url,
            &c.sla_url,
            &c.phone_url,
            &c.knowledge_url,
            &c.survey_url,
        ] {
            if !url.is_empty() && !is_http(url) {
                return invalid(
                    "console.tickets_url, dispatch_url, sla_url, phone_url, knowledge_url and \
                     survey_url must be empty or http(s) URLs",
                );
            }
        }
        if c.client_id.trim().is_empty() {
            return invalid("console.client_id must be set");
        }
        // A week bounds what a stolen session cookie is worth; an idle timeout longer than the
        // whole session would never apply.
        if c.idle_timeout_secs == 0
            || c.max_session_secs < c.idle_timeout_secs
            || c.max_session_secs > 7 * 86_400
        {
            return invalid(
                "console.idle_timeout_secs must be positive and at most max_session_secs, itself at most 7 days",
            );
        }
        if !(100..=120_000).contains(&c.request_timeout_ms) {
            return invalid("console.request_timeout_ms must be 100-120000");
        }
        if c.figures_max_age_secs > 3600 {
            return invalid("console.figures_max_age_secs must be 0-3600");
        }
        Ok(())
    }

    fn validate_duplicates(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let d = &self.tickets.duplicates;
        // A year is far beyond any hotline's idea of "the same matter again"; the bound keeps
        // the finder's scans to recent tickets.
        if !(1..=365).contains(&d.citizen_days) || !(1..=365).contains(&d.place_days) {
            return invalid("tickets.duplicates.citizen_days and place_days must be 1-365");
        }
        // Beyond a few kilometres "the same place" means nothing.
        if !(1..=5_000).contains(&d.radius_m) {
            return invalid("tickets.duplicates.radius_m must be 1-5000");
        }
        if !(d.text_similarity > 0.0 && d.text_similarity <= 1.0) {
            return invalid("tickets.duplicates.text_similarity must be above 0 and at most 1");
        }
        Ok(())
    }

    fn validate_survey(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let v = &self.survey;
        if !v.public_url.starts_with("http://") && !v.public_url.starts_with("https://") {
            return invalid("survey.public_url must be an http(s) URL");
        }
        if v.call_hour > 23 {
            return invalid("survey.call_hour must be 0-23");
        }
        if v.max_attempts == 0 || v.link_valid_hours == 0 || v.retry_after_minutes == 0 {
            return invalid(
                "survey.max_attempts, link_valid_hours and retry_after_minutes must be positive",
            );
        }
        if v.fire_batch == 0 || v.poll_interval_ms == 0 {
            return invalid("survey.fire_batch and poll_interval_ms must be positive");
        }
        if let Some(secret) = &v.link_secret
            && secret.expose().len() < 16
        {
            return invalid("survey.link_secret must be at least 16 characters");
        }
        Ok(())
    }

    fn validate_wechat(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let w = &self.wechat;
        if !w.api_base_url.starts_with("http://") && !w.api_base_url.starts_with("https://") {
            return invalid("wechat.api_base_url must be an http(s) URL");
        }
        if w.timestamp_window_secs == 0 {
            return invalid("wechat.timestamp_window_secs must be positive");
        }
        // A day at most: a conversation is one contact, not a follower's history.
        if w.conversation_window_secs > 86_400 {
            return invalid("wechat.conversation_window_secs must be at most 86400");
        }
        if let Some(token) = &w.token {
            let t = token.expose();
            if !(3..=32).contains(&t.len())
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return invalid("wechat.token must be 3-32 letters, digits, '-' or '_'");
            }
        }
        if let Some(key) = &w.encoding_aes_key {
            let k = key.expose();
            if k.len() != 43 || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return invalid("wechat.encoding_aes_key must be 43 letters and digits");
            }
        }
        if !w.app_id.bytes().all(|b| b.is_ascii_alphanumeric()) || w.app_id.len() > 32 {
            return invalid("wechat.app_id must be letters and digits");
        }
        Ok(())
    }

    fn validate_phone(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.phone.answer_target_secs == 0 || self.phone.answer_target_secs > 3600 {
            return invalid("phone.answer_target_secs must be 1-3600");
        }
        // Zero would release a ticket before the agent could answer it; past an hour a
        // forgotten call would keep its ticket from dispatch for too long.
        if self.phone.wrap_up_secs == 0 || self.phone.wrap_up_secs > 3600 {
            return invalid("phone.wrap_up_secs must be 1-3600");
        }
        if let Some(token) = &self.phone.cti_token {
            let t = token.expose();
            if !(12..=128).contains(&t.len()) || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return invalid("phone.cti_token must be 12-128 visible ASCII characters");
            }
        }
        Ok(())
    }

    fn validate_app(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let a = &self.app;
        if a.issuer.trim().is_empty() || a.issuer.chars().any(char::is_control) {
            return invalid("app.issuer must be set");
        }
        if !(60..=3600).contains(&a.access_token_secs) {
            return invalid("app.access_token_secs must be 60-3600");
        }
        if !(1..=365).contains(&a.refresh_token_days) {
            return invalid("app.refresh_token_days must be 1-365");
        }
        if !(60..=1800).contains(&a.code_ttl_secs) || !(1..=10).contains(&a.code_max_tries) {
            return invalid("app.code_ttl_secs must be 60-1800 and app.code_max_tries 1-10");
        }
        if a.codes_per_phone == 0 || a.codes_per_client == 0 || a.code_window_secs == 0 {
            return invalid("app code limits must be positive");
        }
        if let Some(url) = &a.push_endpoint
            && !url.starts_with("http://")
            && !url.starts_with("https://")
        {
            return invalid("app.push_endpoint must be an http(s) URL");
        }
        Ok(())
    }

    fn validate_email(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let e = &self.email;
        let domain_ok = |d: &str| {
            !d.is_empty()
                && d.len() <= 253
                && d.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        if !domain_ok(&e.domain) {
            return invalid("email.domain must be a domain name (letters, digits, '-', dots)");
        }
        if e.mailbox.is_empty()
            || e.mailbox.len() > 64
            || !e
                .mailbox
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
        {
            return invalid("email.mailbox must be 1-64 letters, digits, '-', '_', '.' or '+'");
        }
        if e.max_message_bytes < 1024 || e.max_message_bytes > 100 * 1024 * 1024 {
            return invalid("email.max_message_bytes must be 1 KiB-100 MiB");
        }
        if e.max_recipients == 0 || e.max_recipients > 1000 {
            return invalid("email.max_recipients must be 1-1000");
        }
        if e.max_line_bytes < 1000 || e.max_line_bytes > 1024 * 1024 {
            return invalid("email.max_line_bytes must be 1000-1048576 (RFC 5321: at least 1000)");
        }
        if e.max_connections == 0 || e.idle_timeout_secs == 0 || e.connection_timeout_secs == 0 {
            return invalid("email limits and timeouts must be positive");
        }
        if e.idle_timeout_secs > e.connection_timeout_secs {
            return invalid("email.idle_timeout_secs must not exceed connection_timeout_secs");
        }
        if e.max_attachment_bytes > e.max_message_bytes {
            return invalid("email.max_attachment_bytes must not exceed max_message_bytes");
        }
        let type_ok = |t: &str| {
            t.split_once('/').is_some_and(|(a, b)| {
                let token = |s: &str| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&c))
                };
                token(a) && (b == "*" || token(b))
            })
        };
        if !e.attachment_types.iter().all(|t| type_ok(t)) {
            return invalid("email.attachment_types must be MIME types (type/subtype or type/*)");
        }
        if let Some(host) = &e.relay_host {
            let host_ok = domain_ok(host) || host.parse::<std::net::IpAddr>().is_ok();
            if !host_ok || e.relay_port == 0 {
                return invalid("email.relay_host must be a host name or IP, relay_port not 0");
            }
        }
        if !e.from_address.is_empty() {
            let ok = e
                .from_address
                .split_once('@')
                .is_some_and(|(local, domain)| {
                    !local.is_empty()
                        && local
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
                        && domain_ok(domain)
                });
            if !ok {
                return invalid("email.from_address must be an address like 12345@hotline.local");
            }
        }
        Ok(())
    }

    fn validate_sms(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let s = &self.sms;
        if s.timestamp_window_secs == 0 || s.max_per_hour == 0 || s.one_time_code_interval_secs == 0
        {
            return invalid("sms windows and limits must be positive");
        }
        for secret in [&s.provider_secret, &s.inbound_secret, &s.number_key]
            .into_iter()
            .flatten()
        {
            let v = secret.expose();
            if !(16..=256).contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return invalid(
                    "sms secrets and number_key must be 16-256 visible ASCII characters",
                );
            }
        }
        let visible = |v: &str| !v.is_empty() && v.len() <= 64 && !v.chars().any(char::is_control);
        let t = &s.templates;
        if ![&t.receipt, &t.progress, &t.survey, &t.one_time_code]
            .into_iter()
            .all(|c| visible(c))
            || !visible(&s.sign_name)
            || s.access_key_id.len() > 64
            || s.access_key_id.chars().any(char::is_control)
        {
            return invalid("sms.sign_name and sms.templates must be 1-64 visible characters");
        }
        if let Some(url) = &s.provider_url {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return invalid("sms.provider_url must be an http(s) URL");
            }
            if s.provider_secret.is_none() || s.number_key.is_none() {
                return invalid("sms.provider_url needs sms.provider_secret and sms.number_key");
            }
        }
        Ok(())
    }

    fn validate_identity(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let id = &self.identity;
        let is_http = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        if !is_http(&id.issuer) || id.issuer.ends_with('/') {
            return invalid(
                "identity.issuer must be an http(s) URL without a trailing slash".into(),
            );
        }
        if id.audience.is_empty()
            || id.access_token_secs == 0
            || id.refresh_token_secs == 0
            || id.code_secs == 0
            || id.lockout_failures == 0
            || id.lockout_secs == 0
        {
            return invalid(
                "identity audience, lifetimes and lockout must be set and positive".into(),
            );
        }
        let mut ids = HashSet::new();
        for c in &id.clients {
            if c.client_id.is_empty() || !ids.insert(c.client_id.as_str()) {
                return invalid(format!(
                    "identity client id {:?} is empty or used twice",
                    c.client_id
                ));
            }
            if let Some(u) = c
                .redirect_uris
                .iter()
                .find(|u| !is_http(u) || u.contains('#'))
            {
                return invalid(format!(
                    "identity client {}: redirect URI {u:?} must be an absolute http(s) URL without a fragment",
                    c.client_id
                ));
            }
        }
        Ok(())
    }

    /// The city's offset from UTC (Asia/Shanghai: +8, no daylight saving).
    pub fn utc_offset(&self) -> chrono::FixedOffset {
        use chrono::Offset as _;
        chrono::FixedOffset::east_opt(self.city.utc_offset_hours * 3600)
            .unwrap_or_else(|| chrono::Utc.fix())
    }
}

/// `HOTLINE__SECTION__KEY` for `section.key`.
pub fn port_variable(key: &str) -> String {
    format!("HOTLINE__{}", key.replace('.', "__").to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    /// A listener missing from `listen_ports_mut` is one a test or bench leaves on its
    /// default port, where a local platform or a parallel test may hold it.
    #[test]
    fn every_listening_port_of_the_defaults_is_in_the_list() {
        fn walk(prefix: &str, table: &config::Map<String, config::Value>, out: &mut Vec<String>) {
            for (key, value) in table {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                match &value.kind {
                    config::ValueKind::Table(inner) => walk(&name, inner, out),
                    // A relay's port is where we connect, not where we listen.
                    _ if key == "relay_port" => {}
                    _ if key == "port" || key.ends_with("_port") => out.push(name),
                    _ => {}
                }
            }
        }
        let defaults = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .expect("defaults")
            .try_deserialize::<config::Map<String, config::Value>>()
            .expect("table");
        let mut in_defaults = Vec::new();
        walk("", &defaults, &mut in_defaults);
        in_defaults.sort();
        let mut settings = Settings::load_from(None, Vec::<(String, String)>::new()).expect("load");
        let mut listed: Vec<String> = settings
            .listen_ports_mut()
            .into_iter()
            .map(|(k, _)| k.to_owned())
            .collect();
        listed.sort();
        assert_eq!(listed, in_defaults);
        assert_eq!(
            port_variable("gateway.grpc_port"),
            "HOTLINE__GATEWAY__GRPC_PORT"
        );
    }

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_load_and_validate() {
        let s = Settings::load_from(None, env(&[])).expect("defaults are valid");
        assert_eq!(s.intake.port, 8080);
        assert_eq!(s.gateway.grpc_port, 50051);
        assert!(
            s.intake.open311_api_keys.is_empty(),
            "no key exists until an operator sets one"
        );
    }

    #[test]
    fn environment_overrides_in_layers() {
        let s = Settings::load_from(
            None,
            env(&[
                ("NATS_URL", "nats://10.0.0.1:4222"),
                ("HOTLINE__INTAKE__PORT", "9999"),
                (
                    "HOTLINE__INTAKE__OPEN311_API_KEYS",
                    "key-one-123,key-two-456",
                ),
                ("HOTLINE__NAMESPACE", "t1"),
            ]),
        )
        .expect("valid");
        assert_eq!(s.nats.url, "nats://10.0.0.1:4222");
        assert_eq!(s.intake.port, 9999);
        assert_eq!(
            s.intake.open311_api_keys,
            vec!["key-one-123", "key-two-456"]
        );
        assert_eq!(s.namespace, "t1");
    }

    #[test]
    fn a_hotline_variable_outranks_the_conventional_one_for_the_same_key() {
        let s = Settings::load_from(
            None,
            [
                ("DATABASE_URL", "postgres://u:p@h/conventional"),
                ("HOTLINE__DATABASE__URL", "postgres://u:p@h/hotline_own"),
                ("NATS_URL", "nats://10.0.0.9:4222"),
                ("REDIS_URL", "redis://10.0.0.9:6379"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .expect("loads");
        assert_eq!(s.database.url, "postgres://u:p@h/hotline_own");
        // Alone, the conventional ones still apply.
        assert_eq!(s.nats.url, "nats://10.0.0.9:4222");
        assert_eq!(s.redis.url, "redis://10.0.0.9:6379");
    }

    #[test]
    fn bad_values_are_refused_before_anything_starts() {
        for bad in [
            ("HOTLINE__INTAKE__PORT", "8081"),
            ("HOTLINE__NAMESPACE", "a.b"),
            ("DATABASE_URL", "mysql://x"),
            ("HOTLINE__TELEMETRY__LOG_FORMAT", "xml"),
            ("HOTLINE__KNOWLEDGE__PORT", "8081"),
            ("HOTLINE__SLA__PORT", "8085"),
            ("HOTLINE__SLA__POLL_INTERVAL_MS", "0"),
            ("HOTLINE__KNOWLEDGE__MAX_QUERY_BYTES", "0"),
            ("HOTLINE__IDENTITY__PORT", "8081"),
            ("HOTLINE__IDENTITY__ISSUER", "http://127.0.0.1:8079/"),
            ("HOTLINE__IDENTITY__LOCKOUT_FAILURES", "0"),
            ("HOTLINE__AUTH__ISSUER", "127.0.0.1:8079"),
            ("HOTLINE__AUTH__JWKS_URI", "file:///keys.json"),
            ("HOTLINE__AUTH__JWKS_REFRESH_SECS", "0"),
            ("HOTLINE__AUTH__AUDIENCE", " "),
            ("HOTLINE__WECHAT__PORT", "8080"),
            ("HOTLINE__WECHAT__TOKEN", "x"),
            ("HOTLINE__WECHAT__ENCODING_AES_KEY", "too-short"),
            ("HOTLINE__WECHAT__APP_ID", "wx 1"),
            ("HOTLINE__WECHAT__API_BASE_URL", "api.weixin.qq.com"),
            ("HOTLINE__WECHAT__TIMESTAMP_WINDOW_SECS", "0"),
            ("HOTLINE__PHONE__PORT", "8083"),
            ("HOTLINE__PHONE__CTI_TOKEN", "short"),
            ("HOTLINE__PHONE__ANSWER_TARGET_SECS", "0"),
            ("HOTLINE__EMAIL__PORT", "8080"),
            ("HOTLINE__EMAIL__HTTP_PORT", "8083"),
            ("HOTLINE__EMAIL__DOMAIN", "bad domain"),
            ("HOTLINE__EMAIL__DOMAIN", "-x.local"),
            ("HOTLINE__EMAIL__MAILBOX", "a@b"),
            ("HOTLINE__EMAIL__MAX_MESSAGE_BYTES", "10"),
            ("HOTLINE__EMAIL__MAX_RECIPIENTS", "0"),
            ("HOTLINE__EMAIL__MAX_LINE_BYTES", "512"),
            ("HOTLINE__EMAIL__IDLE_TIMEOUT_SECS", "0"),
            ("HOTLINE__EMAIL__IDLE_TIMEOUT_SECS", "100000"),
            ("HOTLINE__EMAIL__MAX_ATTACHMENT_BYTES", "999999999"),
            ("HOTLINE__EMAIL__ATTACHMENT_TYPES", "image/png,exe"),
            ("HOTLINE__EMAIL__RELAY_HOST", "smtp relay"),
            ("HOTLINE__EMAIL__FROM_ADDRESS", "no-at-sign"),
            ("HOTLINE__CONSOLE__PORT", "8081"),
            ("HOTLINE__CONSOLE__PUBLIC_URL", "http://console.example/"),
            ("HOTLINE__CONSOLE__TICKETS_URL", "tickets:8081"),
            ("HOTLINE__CONSOLE__IDLE_TIMEOUT_SECS", "0"),
            ("HOTLINE__CONSOLE__MAX_SESSION_SECS", "60"),
            ("HOTLINE__CONSOLE__FIGURES_MAX_AGE_SECS", "3601"),
        ] {
            let r = Settings::load_from(None, env(&[bad]));
            assert!(
                matches!(r, Err(ConfigError::Invalid(_))),
                "{bad:?} gave {r:?}"
            );
        }
        let r = Settings::load_from(None, env(&[("HOTLINE__INTAKE__PORT", "not-a-port")]));
        assert!(matches!(r, Err(ConfigError::Load(_))));
    }

    #[test]
    fn the_outbox_lease_defaults_to_15_s_and_refuses_what_cannot_work() {
        let s = Settings::load_from(None, env(&[])).expect("defaults");
        assert_eq!(
            (
                s.outbox.lease_secs,
                s.outbox.stuck_after_secs,
                s.outbox.gauge_interval_secs
            ),
            (15, 60, 5)
        );
        let s =
            Settings::load_from(None, env(&[("HOTLINE__OUTBOX__LEASE_SECS", "4")])).expect("valid");
        assert_eq!(s.outbox.lease_secs, 4);
        let bad: [&[(&str, &str)]; 6] = [
            &[("HOTLINE__OUTBOX__LEASE_SECS", "3")],
            &[("HOTLINE__OUTBOX__LEASE_SECS", "301")],
            // A take-over alone would look stuck.
            &[("HOTLINE__OUTBOX__LEASE_SECS", "40")],
            &[("HOTLINE__OUTBOX__GAUGE_INTERVAL_SECS", "0")],
            &[("HOTLINE__OUTBOX__GAUGE_INTERVAL_SECS", "31")],
            &[
                ("HOTLINE__OUTBOX__STUCK_AFTER_SECS", "20"),
                ("HOTLINE__OUTBOX__LEASE_SECS", "11"),
            ],
        ];
        for pairs in bad {
            let r = Settings::load_from(None, env(pairs));
            assert!(
                matches!(r, Err(ConfigError::Invalid(_))),
                "{pairs:?} gave {r:?}"
            );
        }
    }

    #[test]
    fn duplicate_windows_default_and_are_bounded() {
        let s = Settings::load_from(None, env(&[])).expect("defaults");
        let d = &s.tickets.duplicates;
        assert_eq!((d.citizen_days, d.place_days, d.radius_m), (7, 3, 100));
        let s = Settings::load_from(
            None,
            env(&[("HOTLINE__TICKETS__DUPLICATES__PLACE_DAYS", "5")]),
        )
        .expect("valid");
        assert_eq!(s.tickets.duplicates.place_days, 5);
        for bad in [
            ("HOTLINE__TICKETS__DUPLICATES__CITIZEN_DAYS", "0"),
            ("HOTLINE__TICKETS__DUPLICATES__PLACE_DAYS", "366"),
            ("HOTLINE__TICKETS__DUPLICATES__RADIUS_M", "0"),
            ("HOTLINE__TICKETS__DUPLICATES__TEXT_SIMILARITY", "0"),
            ("HOTLINE__TICKETS__DUPLICATES__TEXT_SIMILARITY", "1.5"),
        ] {
            let r = Settings::load_from(None, env(&[bad]));
            assert!(
                matches!(r, Err(ConfigError::Invalid(_))),
                "{bad:?} gave {r:?}"
            );
        }
    }

    #[test]
    fn the_sms_section_defaults_off_and_needs_its_secrets_with_a_gateway() {
        let s = Settings::load_from(None, env(&[("REDIS_URL", "redis://10.0.0.9:6379")]))
            .expect("valid");
        assert_eq!(s.sms.port, 8091);
        assert!(s.sms.provider_url.is_none(), "no gateway by default");
        assert_eq!(
            (s.sms.max_per_hour, s.sms.one_time_code_interval_secs),
            (5, 60)
        );
        assert_eq!(s.sms.stores.redis_url, "redis://10.0.0.9:6379");
        assert_eq!(s.sms.stores.namespace, s.namespace);
        assert!(
            Settings::load_from(
                None,
                env(&[("HOTLINE__SMS__PROVIDER_URL", "https://sms.example.org/send")])
            )
            .is_err(),
            "a gateway without secrets"
        );
        let s = Settings::load_from(
            None,
            env(&[
                ("HOTLINE__SMS__PROVIDER_URL", "https://sms.example.org/send"),
                ("HOTLINE__SMS__PROVIDER_SECRET", "provider-secret-value"),
                ("HOTLINE__SMS__NUMBER_KEY", "number-key-value-0001"),
            ]),
        )
        .expect("valid");
        let shown = format!("{:?}", s.sms);
        assert!(!shown.contains("provider-secret-value") && !shown.contains("number-key-value"));
        for (key, value) in [
            ("HOTLINE__SMS__PORT", "8081"),
            ("HOTLINE__SMS__NUMBER_KEY", "short"),
            ("HOTLINE__SMS__MAX_PER_HOUR", "0"),
            ("HOTLINE__SMS__PROVIDER_URL", "ftp://x"),
        ] {
            assert!(
                Settings::load_from(None, env(&[(key, value)])).is_err(),
                "{key}"
            );
        }
    }

    #[test]
    fn a_wechat_account_loads_and_its_secrets_are_not_printed() {
        let s = Settings::load_from(
            None,
            env(&[
                ("HOTLINE__WECHAT__TOKEN", "my-token-1"),
                ("HOTLINE__WECHAT__APP_ID", "wx0123456789abcdef"),
                (
                    "HOTLINE__WECHAT__ENCODING_AES_KEY",
                    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                ),
                ("HOTLINE__WECHAT__APP_SECRET", "app-secret-value"),
            ]),
        )
        .expect("valid");
        assert_eq!(s.wechat.port, 8083);
        assert_eq!(
            s.wechat.token.as_ref().map(Secret::expose),
            Some("my-token-1")
        );
        let shown = format!("{:?}", s.wechat);
        assert!(!shown.contains("my-token-1") && !shown.contains("app-secret-value"));
        assert!(!shown.contains("0123456789ABCDEFG"));
        assert_eq!(s.wechat.conversation_window_secs, 300);
        let off = Settings::load_from(
            None,
            env(&[("HOTLINE__WECHAT__CONVERSATION_WINDOW_SECS", "0")]),
        )
        .expect("0 turns grouping off");
        assert_eq!(off.wechat.conversation_window_secs, 0);
        assert!(
            Settings::load_from(
                None,
                env(&[("HOTLINE__WECHAT__CONVERSATION_WINDOW_SECS", "90000")])
            )
            .is_err(),
            "more than a day"
        );
    }

    #[test]
    fn the_app_section_defaults_and_refuses_nonsense() {
        let s = Settings::load_from(None, env(&[])).expect("valid");
        assert_eq!(s.app.port, 8087);
        assert_eq!(s.app.access_token_secs, 900);
        assert_eq!(s.app.refresh_token_days, 30);
        assert_eq!((s.app.code_ttl_secs, s.app.code_max_tries), (300, 5));
        assert!(s.app.push_endpoint.is_none());
        for (key, value) in [
            ("HOTLINE__APP__ACCESS_TOKEN_SECS", "86400"),
            ("HOTLINE__APP__CODE_MAX_TRIES", "0"),
            ("HOTLINE__APP__CODES_PER_PHONE", "0"),
            ("HOTLINE__APP__PUSH_ENDPOINT", "ftp://push"),
            ("HOTLINE__APP__PORT", "8080"),
        ] {
            assert!(
                Settings::load_from(None, env(&[(key, value)])).is_err(),
                "{key}={value} must be refused"
            );
        }
    }

    #[test]
    fn the_email_channel_defaults_and_its_lists_come_from_the_environment() {
        let s = Settings::load_from(None, env(&[])).expect("valid");
        assert_eq!((s.email.port, s.email.http_port), (2525, 8092));
        assert_eq!(s.notify.port, 8093);
        assert_eq!(
            (s.email.mailbox.as_str(), s.email.domain.as_str()),
            ("12345", "hotline.local")
        );
        assert!(s.email.relay_host.is_none(), "no relay until one is set");
        assert!(s.email.attachment_types.iter().any(|t| t == "image/*"));
        let s = Settings::load_from(
            None,
            env(&[
                (
                    "HOTLINE__EMAIL__ATTACHMENT_TYPES",
                    "image/png,application/pdf",
                ),
                ("HOTLINE__EMAIL__RELAY_HOST", "127.0.0.1"),
                ("HOTLINE__EMAIL__RELAY_PORT", "2526"),
            ]),
        )
        .expect("valid");
        assert_eq!(s.email.attachment_types, ["image/png", "application/pdf"]);
        assert_eq!(s.email.relay_host.as_deref(), Some("127.0.0.1"));
        assert_eq!(s.email.relay_port, 2526);
    }

    #[test]
    fn the_console_derives_its_urls_and_its_callback_is_registered() {
        let s = Settings::load_from(None, env(&[])).expect("valid");
        assert_eq!(s.console.port, 8089);
        assert_eq!(s.console.figures_max_age_secs, 30);
        assert_eq!(s.console_public_url(), "http://127.0.0.1:8089");
        assert_eq!(
            s.local_service_url(&s.console.tickets_url, s.tickets.port),
            "http://127.0.0.1:8081"
        );
        let s = Settings::load_from(
            None,
            env(&[
                ("HOTLINE__CONSOLE__PORT", "9189"),
                ("HOTLINE__LISTEN__HOST", "0.0.0.0"),
                ("HOTLINE__CONSOLE__SLA_URL", "http://sla.hotline:8086/"),
            ]),
        )
        .expect("valid");
        assert_eq!(s.console_public_url(), "http://127.0.0.1:9189");
        assert_eq!(
            s.local_service_url(&s.console.sla_url, s.sla.port),
            "http://sla.hotline:8086"
        );
        let console = s
            .identity
            .clients
            .iter()
            .find(|c| c.client_id == "hotline-console")
            .expect("the console's client");
        assert!(
            console
                .redirect_uris
                .contains(&"http://127.0.0.1:9189/auth/callback".to_owned()),
            "{:?}",
            console.redirect_uris
        );
    }

    #[test]
    fn the_phone_channel_defaults_and_its_token_is_not_printed() {
        let s = Settings::load_from(None, env(&[])).expect("valid");
        assert_eq!(s.phone.port, 8084);
        assert_eq!(s.phone.answer_target_secs, 15);
        assert!(s.phone.cti_token.is_none(), "no token until one is set");
        let s = Settings::load_from(
            None,
            env(&[("HOTLINE__PHONE__CTI_TOKEN", "cti-token-of-the-pbx")]),
        )
        .expect("valid");
        assert_eq!(
            s.phone.cti_token.as_ref().map(Secret::expose),
            Some("cti-token-of-the-pbx")
        );
        assert!(!format!("{:?}", s.phone).contains("cti-token-of-the-pbx"));
    }
}
