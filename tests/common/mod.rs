//! Running the real `hotline` binary for end-to-end tests.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hotline_config::Settings;
use hotline_gateway::proto::department_gateway_client::DepartmentGatewayClient;
use hotline_testkit::TestEnv;
use tonic::transport::Channel;

pub struct Platform {
    pub env: TestEnv,
    pub settings: Settings,
    pub children: Vec<(String, Child)>,
    pub extra_env: Vec<(String, String)>,
    pub http: reqwest::Client,
}

impl Platform {
    pub async fn new(extra_env: Vec<(String, String)>) -> Platform {
        let env = hotline_testkit::env().await.expect("test servers");
        let settings = env.settings().expect("settings");
        Platform {
            env,
            settings,
            children: Vec::new(),
            extra_env,
            http: reqwest::Client::new(),
        }
    }

    /// Starts `hotline <args>` with this test's settings.
    pub fn spawn(&mut self, args: &[&str]) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotline"));
        cmd.args(args)
            .envs(self.env.env_vars(&self.settings))
            .envs(self.extra_env.clone())
            .env("RUST_LOG", "warn");
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
        let child = cmd.spawn().expect("start hotline");
        self.children.push((args.join(" "), child));
    }

    /// Sends SIGKILL to the process started with `args`, as a crash would.
    pub fn kill9(&mut self, args: &str) {
        let idx = self
            .children
            .iter()
            .position(|(a, _)| a == args)
            .expect("such a process");
        let (_, mut child) = self.children.remove(idx);
        child.kill().expect("kill -9");
        let _ = child.wait();
    }

    pub fn intake(&self) -> String {
        format!("http://127.0.0.1:{}/open311/v2", self.settings.intake.port)
    }

    pub fn tickets(&self) -> String {
        format!("http://127.0.0.1:{}", self.settings.tickets.port)
    }

    /// Waits until every service answers /readyz and Open311 lists the catalogue.
    pub async fn wait_ready(&self, ports: &[u16]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for port in ports {
            loop {
                let ok = self
                    .http
                    .get(format!("http://127.0.0.1:{port}/readyz"))
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if ok {
                    break;
                }
                assert!(Instant::now() < deadline, "port {port} never became ready");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        if ports.contains(&self.settings.intake.port) {
            loop {
                let r = self
                    .http
                    .get(format!("{}/services.json", self.intake()))
                    .send()
                    .await;
                if matches!(&r, Ok(r) if r.status().is_success()) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "Open311 services never became available"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    pub fn all_ports(&self) -> Vec<u16> {
        vec![
            self.settings.intake.port,
            self.settings.tickets.port,
            self.settings.dispatch.port,
            self.settings.gateway.port,
        ]
    }

    /// The four ports above, the knowledge and SLA ports and the app API's: what `hotline all`
    /// serves.
    pub fn every_port(&self) -> Vec<u16> {
        let mut ports = self.all_ports();
        ports.extend([
            self.settings.knowledge.port,
            self.settings.sla.port,
            self.settings.survey.port,
            self.settings.app.port,
        ]);
        ports
    }

    /// An HTTP client that sends a person's access token (password grant of a demo account at
    /// the identity service, `hotline all` runs it) with every request.
    pub async fn staff_client(&self, username: &str) -> reqwest::Client {
        let deadline = Instant::now() + Duration::from_secs(60);
        let token = loop {
            let r = self
                .http
                .post(format!("{}/token", self.settings.identity.issuer))
                .form(&[
                    ("grant_type", "password"),
                    ("username", username),
                    ("password", &format!("demo-{username}")),
                    ("client_id", "hotline-console"),
                ])
                .send()
                .await;
            if let Ok(r) = r
                && r.status().is_success()
            {
                let body: serde_json::Value = r.json().await.expect("token json");
                break body["access_token"].as_str().expect("token").to_owned();
            }
            assert!(Instant::now() < deadline, "no token for {username}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("ascii"),
        );
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("client")
    }

    pub async fn department(&self) -> DepartmentGatewayClient<Channel> {
        let url = format!("http://127.0.0.1:{}", self.settings.gateway.grpc_port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match DepartmentGatewayClient::connect(url.clone()).await {
                Ok(c) => return c,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "gateway gRPC never answered: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Files an Open311 request; returns (HTTP status, body).
    pub async fn post(
        &self,
        form: &[(&str, &str)],
        idempotency_key: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .post(format!("{}/requests.json", self.intake()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).expect("form"));
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await.expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn get_request(&self, no: &str) -> serde_json::Value {
        let r = self
            .http
            .get(format!("{}/requests/{no}.json", self.intake()))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status().as_u16(), 200, "GET {no}");
        let body: serde_json::Value = r.json().await.expect("json");
        body[0].clone()
    }

    /// A district matter from the live catalogue.
    pub async fn district_service(&self) -> String {
        let services: Vec<serde_json::Value> = self
            .http
            .get(format!("{}/services.json", self.intake()))
            .send()
            .await
            .expect("services")
            .json()
            .await
            .expect("json");
        services
            .iter()
            .find(|s| s["group"] == "城乡建设")
            .and_then(|s| s["service_code"].as_str())
            .expect("a district matter")
            .to_owned()
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Adds `authorization: Bearer <token>` (and a traceparent when given) to a request.
pub fn authed<T>(message: T, token: &str, traceparent: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    if let Some(tp) = traceparent.filter(|t| !t.is_empty()) {
        r.metadata_mut()
            .insert("traceparent", tp.parse().expect("ascii"));
    }
    r
}
