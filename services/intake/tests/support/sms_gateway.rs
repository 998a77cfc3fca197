//! A fake of the SMS gateway (a system we cannot reach here) speaking the provider's wire
//! format (see `hotline_intake::sms::provider`): it checks our signature and records what it
//! would hand to the carrier.
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hotline_intake::sms::sign;

pub const PROVIDER_SECRET: &str = "provider-secret-0123456789";

/// What the fake gateway took, as it would hand it to the carrier.
#[derive(Debug, Clone)]
pub struct Taken {
    pub to: String,
    pub template_code: String,
    pub params: serde_json::Value,
}

#[derive(Clone, Default)]
pub struct Gateway {
    pub taken: Arc<Mutex<Vec<Taken>>>,
    pub forged: Arc<Mutex<usize>>,
}

impl Gateway {
    pub fn taken(&self) -> Vec<Taken> {
        self.taken.lock().expect("lock").clone()
    }

    pub fn to(&self, number: &str) -> Vec<Taken> {
        self.taken()
            .into_iter()
            .filter(|t| t.to == number)
            .collect()
    }
}

/// The gateway's send endpoint: checks the signature (401 and nothing taken when it is wrong)
/// and the body's shape, as the real one does.
pub async fn gateway_send(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let checked = sign::verify(
        PROVIDER_SECRET,
        header(sign::TIMESTAMP_HEADER),
        header(sign::NONCE_HEADER),
        header(sign::SIGNATURE_HEADER),
        &body,
        chrono::Utc::now().timestamp(),
        300,
    );
    if checked.is_err() || header(sign::KEY_HEADER) != Some("LTAI-test") {
        *gateway.forged.lock().expect("lock") += 1;
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"code": "SignatureDoesNotMatch"})),
        );
    }
    let request: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({"code": "isv.INVALID_PARAMETERS"})),
            );
        }
    };
    assert_eq!(request["sign_name"], "12345热线");
    assert!(request["out_id"].as_str().is_some_and(|s| !s.is_empty()));
    gateway.taken.lock().expect("lock").push(Taken {
        to: request["phone_numbers"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        template_code: request["template_code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        params: request["template_param"].clone(),
    });
    (
        StatusCode::OK,
        axum::Json(
            serde_json::json!({"code": "OK", "message": "OK", "biz_id": "900619746936498440^0"}),
        ),
    )
}

pub async fn start_gateway() -> (Gateway, String) {
    let gateway = Gateway::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/sms/send", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route("/sms/send", post(gateway_send))
        .with_state(gateway.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (gateway, url)
}
