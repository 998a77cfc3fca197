//! The survey page, `/s/{token}`: plain HTML with radio buttons and one submit button, readable
//! on a phone's browser without JavaScript. The token is the only credential (see
//! [`crate::link`]); the page shows nothing of the ticket but its number.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use hotline_domain::Actor;
use serde::Deserialize;

use crate::answer::{Answer, Rating, Via};
use crate::error::SurveyError;
use crate::http::AppState;
use crate::link::LinkError;
use crate::store;

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} - 12345热线</title><style>body{{font-family:sans-serif;max-width:36em;\
         margin:1em auto;padding:0 1em;line-height:1.6}}fieldset{{margin:1em 0}}\
         label{{display:block;padding:.3em 0}}button{{font-size:1.1em;padding:.5em 2em}}\
         textarea{{width:100%}}.error{{color:#a00}}</style></head>\
         <body><main><h1>{title}</h1>{body}</main></body></html>"
    );
    (status, Html(html)).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn invalid_link() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "链接无效",
        "<p>这个回访链接无效。请使用短信、微信或邮件中的完整链接。</p>",
    )
}

fn expired_link() -> Response {
    page(
        StatusCode::GONE,
        "链接已过期",
        "<p>这个回访链接已过期。如对办理结果有意见，请拨打12345。</p>",
    )
}

fn done() -> Response {
    page(
        StatusCode::CONFLICT,
        "已完成评价",
        "<p>这次回访已经完成，感谢您的评价。</p>",
    )
}

fn ratings(name: &str, legend: &str) -> String {
    let options: String = Rating::ALL
        .iter()
        .map(|r| {
            format!(
                "<label><input type=\"radio\" name=\"{name}\" value=\"{}\" required> {}</label>",
                r.as_str(),
                r.chinese()
            )
        })
        .collect();
    format!("<fieldset><legend>{legend}</legend>{options}</fieldset>")
}

fn form(
    token: &str,
    ticket: &str,
    on_the_spot: bool,
    rated_call: bool,
    error: Option<&str>,
) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let question = if on_the_spot {
        "您的问题得到解答了吗？"
    } else {
        "您反映的问题解决了吗？"
    };
    let case = if on_the_spot {
        String::new()
    } else {
        ratings("case", "您对承办单位的办理结果是否满意？")
    };
    let call = if rated_call {
        ratings("call", "您对受理您来电的话务员是否满意？")
    } else {
        String::new()
    };
    format!(
        "{error}<p>工单编号 {ticket}</p><form method=\"post\" action=\"/s/{token}\">\
         <fieldset><legend>{question}</legend>\
         <label><input type=\"radio\" name=\"resolved\" value=\"yes\" required> 已解决</label>\
         <label><input type=\"radio\" name=\"resolved\" value=\"no\"> 未解决</label></fieldset>\
         {case}{call}<p><label for=\"comment\">意见或建议（可不填）</label>\
         <textarea id=\"comment\" name=\"comment\" rows=\"4\" maxlength=\"{}\"></textarea></p>\
         <button type=\"submit\">提交评价</button></form>",
        crate::answer::MAX_COMMENT
    )
}

/// `GET /s/{token}`.
pub async fn show(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    let link = match s.signer.check(&token, Utc::now()) {
        Ok(l) => l,
        Err(LinkError::Expired) => return expired_link(),
        Err(_) => return invalid_link(),
    };
    match store::for_link(&s.pool, link.survey_id).await {
        Ok(Some((kind, state, rated_call, ticket_no))) => match state.as_str() {
            "invited" | "scheduled" => page(
                StatusCode::OK,
                "满意度回访",
                &form(
                    &token,
                    &ticket_no.to_string(),
                    kind == "on_the_spot",
                    rated_call,
                    None,
                ),
            ),
            _ => done(),
        },
        Ok(None) => invalid_link(),
        Err(e) => unavailable(&e),
    }
}

#[derive(Deserialize)]
pub struct Submitted {
    #[serde(default)]
    resolved: String,
    #[serde(default)]
    case: Option<String>,
    #[serde(default)]
    call: Option<String>,
    #[serde(default)]
    comment: String,
}

fn unavailable(e: &SurveyError) -> Response {
    tracing::warn!(error = %format!("{e:#}"), "survey page failed");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "请稍后再试",
        "<p>系统繁忙，请稍后再打开链接。</p>",
    )
}

/// `POST /s/{token}`: the answer, once.
pub async fn submit(
    State(s): State<AppState>,
    Path(token): Path<String>,
    form_data: Result<Form<Submitted>, axum::extract::rejection::FormRejection>,
) -> Response {
    let link = match s.signer.check(&token, Utc::now()) {
        Ok(l) => l,
        Err(LinkError::Expired) => return expired_link(),
        Err(_) => return invalid_link(),
    };
    let Some((kind, state, rated_call, ticket_no)) =
        (match store::for_link(&s.pool, link.survey_id).await {
            Ok(found) => found,
            Err(e) => return unavailable(&e),
        })
    else {
        return invalid_link();
    };
    if !matches!(state.as_str(), "invited" | "scheduled") {
        return done();
    }
    let on_the_spot = kind == "on_the_spot";
    let again = |message: &str| {
        page(
            StatusCode::BAD_REQUEST,
            "满意度回访",
            &form(
                &token,
                &ticket_no.to_string(),
                on_the_spot,
                rated_call,
                Some(message),
            ),
        )
    };
    let Ok(Form(f)) = form_data else {
        return again("提交的内容无法识别，请重新填写。");
    };
    let resolved = match f.resolved.as_str() {
        "yes" => true,
        "no" => false,
        _ => return again("请选择问题是否已解决。"),
    };
    let rating = |raw: &Option<String>| -> Result<Option<Rating>, ()> {
        match raw.as_deref().filter(|r| !r.is_empty()) {
            None => Ok(None),
            Some(r) => Rating::parse(r).map(Some).ok_or(()),
        }
    };
    let (Ok(case_rating), Ok(call_rating)) = (rating(&f.case), rating(&f.call)) else {
        return again("评价选项无法识别，请重新选择。");
    };
    if !on_the_spot && case_rating.is_none() {
        return again("请选择您对办理结果的满意程度。");
    }
    let answer = Answer {
        resolved,
        case_rating,
        call_rating: if rated_call { call_rating } else { None },
        comment: f.comment,
    };
    match store::record_answer(
        &s.pool,
        link.survey_id,
        &answer,
        Via::Link,
        &Actor::system("survey"),
        Some(&link.nonce),
        s.policy.max_reopens,
    )
    .await
    {
        Ok(recorded) => {
            let next = if recorded.satisfied {
                "感谢您的评价！"
            } else {
                "感谢您的评价。我们将督促承办单位重新办理，并再次回访。"
            };
            page(StatusCode::OK, "评价已提交", &format!("<p>{next}</p>"))
        }
        Err(SurveyError::Conflict(_)) => done(),
        Err(SurveyError::Invalid(m)) => again(&m),
        Err(e) => unavailable(&e),
    }
}
