//! The supervisor's screens (督办/班长; administrators too):
//!
//! - the live board (`GET /supervisor`, its live part `GET /supervisor/live` polled by htmx
//!   every 20 s): contacts today per channel (tickets `/v1/hotspots?by=channel`), the answer
//!   rate (phone `/v1/figures`), on-time completion and overdue now (SLA `/v1/figures`), the
//!   backlog per department (tickets `/v1/hotspots?by=backlog`), overdue and 督办 per
//!   department, satisfaction (survey `/v1/figures`), and the pending extension requests (SLA
//!   `/v1/extensions`) decided here (`POST /supervisor/extensions/{no}` → SLA
//!   `POST /v1/extensions/{no}/decision`, recorded as the person);
//! - the periodic report (通报) for a period (`GET /supervisor/report?period=`): per department
//!   completed, on-time rate, overdue, 督办, satisfaction; as CSV (`/supervisor/report.csv`,
//!   UTF-8 with a BOM) and PDF (`/supervisor/report.pdf`, [`crate::pdf`]);
//! - 社情民意 (`GET /supervisor/hotspots?period=&topic=`): tickets by matter class × district on
//!   a map of the districts (ECharts, initialised by `assets/hotspots.js` from
//!   `GET /supervisor/hotspots.json`: no inline script), the top cells, and the classes that
//!   rose against the period before ([`crate::report::rising`]).
//!
//! Every number comes from the owning service's API with the person's token; the console
//! computes only joins and ratios. The counts over whole periods (everything but the phone
//! figures and the extension requests) are read through [`crate::figures`]: kept
//! `console.figures_max_age_secs` (30 s) and read again behind the page, the page saying when
//! they were read.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use hotline_auth::Role;
use hotline_domain::Directory;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Console;
use super::dept::{Done, ticket_no};
use super::guard::Signed;
use super::pages::{self, Screen, layout};
use crate::assets;
use crate::error::ConsoleError;
use crate::figures::{self, Read};
use crate::html::Html;
use crate::i18n::{Lang, Texts};
use crate::report::{self, Period, ReportRow, SlaRow, SurveyRow};
use crate::upstream::{Api, UpstreamError};

/// Who uses these screens: the SLA API's `DecideExtension` roles.
pub const SUPERVISOR_ROLES: &[Role] = &[Role::Supervisor, Role::Admin];

/// A count through the console's short keep ([`crate::figures`]).
async fn counted<T: serde::de::DeserializeOwned>(
    console: &Console,
    signed: &Signed,
    api: Api,
    path: &str,
) -> Result<Read<T>, UpstreamError> {
    let parts = console.parts();
    parts
        .figures
        .get(
            &parts.upstream,
            &figures::scope(&signed.principal),
            signed.token(),
            api,
            path,
        )
        .await
}

/// The oldest of the counts read: what "figures as of" must say.
#[derive(Default, Clone, Copy)]
struct AsOf(Option<DateTime<Utc>>);

impl AsOf {
    /// The value of `read`, its time noted.
    fn take<T>(&mut self, read: Result<Read<T>, UpstreamError>) -> Result<T, UpstreamError> {
        read.map(|r| {
            self.0 = Some(self.0.map_or(r.as_of, |t| t.min(r.as_of)));
            r.value
        })
    }

    /// `<p class="as-of">Figures as of 19:50:03 …</p>`, or nothing when no count was read.
    fn note(self, lang: Lang, console: &Console) -> Html {
        let mut h = Html::new();
        if let Some(at) = self.0 {
            let s = lang.t().sup();
            h.raw("<p class=\"muted small as-of\" id=\"as-of\">")
                .text(s.as_of)
                .raw(" ")
                .text(
                    at.with_timezone(&console.parts().offset)
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string(),
                )
                .raw("</p>");
        }
        h
    }
}

fn z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A department's name in the person's language, from the directory (the code when unknown).
fn department_name(lang: Lang, code: &str) -> String {
    static DIRECTORY: std::sync::LazyLock<Directory> = std::sync::LazyLock::new(Directory::demo);
    let Ok(c) = hotline_domain::DeptCode::parse(code) else {
        return code.to_owned();
    };
    match DIRECTORY.get(&c) {
        Some(d) if lang == Lang::En && !d.name_en.is_empty() => d.name_en.clone(),
        Some(d) => d.name.clone(),
        None => code.to_owned(),
    }
}

/// `period=` of the query, else the current local month.
#[derive(Deserialize, Default)]
pub struct PeriodQuery {
    #[serde(default)]
    period: Option<String>,
    #[serde(default)]
    topic: Option<String>,
}

impl PeriodQuery {
    fn period(&self, console: &Console) -> Result<Period, ConsoleError> {
        match self
            .period
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            Some(raw) => Period::parse(raw).map_err(|e| ConsoleError::Invalid(e.to_string())),
            None => Ok(Period::month_of(
                Utc::now()
                    .with_timezone(&console.parts().offset)
                    .date_naive(),
            )),
        }
    }
}

/// A count of tickets by one key, as the tickets API's hotspots give it.
#[derive(Deserialize)]
struct Count {
    key: String,
    count: i64,
}

#[derive(Deserialize)]
struct Counts<T> {
    cells: Vec<T>,
}

#[derive(Deserialize)]
struct Cell {
    class: String,
    district: String,
    count: i64,
}

#[derive(Deserialize)]
struct SlaFigures {
    #[serde(default)]
    completion_on_time_rate: Option<f64>,
    #[serde(default)]
    overdue_now: i64,
    #[serde(default)]
    rows: Vec<SlaRow>,
}

#[derive(Deserialize)]
struct SurveyFigures {
    #[serde(default)]
    rows: Vec<SurveyRow>,
    #[serde(default)]
    total: Option<SurveyRow>,
}

#[derive(Deserialize)]
struct PhoneFigures {
    #[serde(default)]
    offered: i64,
    #[serde(default)]
    answered: i64,
    #[serde(default)]
    answer_rate: Option<f64>,
}

#[derive(Deserialize)]
struct Extension {
    ticket_no: String,
    department: String,
    #[serde(default)]
    reason: String,
    until: DateTime<Utc>,
    previous_due: DateTime<Utc>,
    requested_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Extensions {
    extensions: Vec<Extension>,
}

/// A panel's data, or that its service did not answer (the rest of the board still shows). A
/// token the services no longer take ends the page: the person signs in again.
fn panel<T>(r: Result<T, UpstreamError>) -> Result<Option<T>, ConsoleError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(UpstreamError::Unauthorized) => Err(ConsoleError::NotSignedIn { expired: true }),
        Err(UpstreamError::Forbidden(_)) => Err(ConsoleError::Forbidden),
        Err(_) => Ok(None),
    }
}

/// `GET /supervisor`: the board, its live part refreshed by htmx.
pub async fn board(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    signed.require(SUPERVISOR_ROLES)?;
    let t = lang.t();
    let s = t.sup();
    // The decision reaches SLA's list of pending requests through the ledger's events, a moment
    // after the redirect: the request just decided is not offered again meanwhile.
    let decided = done
        .done
        .as_deref()
        .and_then(|d| d.split_whitespace().next());
    let live = live_part(&console, &signed, lang, decided).await?;
    let mut body = Html::new();
    body.raw("<h1>")
        .text(s.board_title)
        .raw(" <span class=\"muted small\">")
        .text(s.live_note)
        .raw("</span></h1>");
    if done.done.is_some() {
        body.raw("<p class=\"flash ok\" role=\"status\">")
            .text(s.decided)
            .text(done.done.as_deref().unwrap_or(""))
            .raw("</p>");
    }
    body.raw("<div id=\"board\" hx-get=\"/supervisor/live\" hx-trigger=\"every 20s\" hx-swap=\"innerHTML\">")
        .append(live)
        .raw("</div>");
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::Board),
            s.board_title,
            body,
        ),
    ))
}

/// `GET /supervisor/live`: the board's numbers and the extension requests (htmx's poll).
pub async fn live(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
) -> Result<Response, ConsoleError> {
    signed.require(SUPERVISOR_ROLES)?;
    let live = live_part(&console, &signed, lang, None).await?;
    Ok(pages::html(StatusCode::OK, live.finish()))
}

async fn live_part(
    console: &Console,
    signed: &Signed,
    lang: Lang,
    decided: Option<&str>,
) -> Result<Html, ConsoleError> {
    let t = lang.t();
    let s = t.sup();
    let up = &console.parts().upstream;
    let token = signed.token();
    let now = Utc::now();
    let local_today = now.with_timezone(&console.parts().offset).date_naive();
    let (day_start, day_end) = Period {
        first: local_today,
        last: local_today,
    }
    .instants(console.parts().offset);
    let channels_path = format!(
        "/v1/hotspots?by=channel&from={}&to={}",
        z(day_start),
        z(day_end)
    );
    // Whole days, so the path (the kept count's key) is the same all day.
    let backlog_path = format!(
        "/v1/hotspots?by=backlog&from={}&to={}",
        z(day_start - Duration::days(365)),
        z(day_end)
    );
    let phone_path = format!(
        "/v1/figures?from={}&to={}",
        z(day_start),
        z(now.max(day_start + Duration::seconds(1)))
    );
    // The phone figures (today's calls, a small table) and the requests to decide are read
    // every time; the rest are counts over periods, kept a short while.
    let (channels, backlog, phone, sla, survey, extensions) = tokio::join!(
        counted::<Counts<Count>>(console, signed, Api::Tickets, &channels_path),
        counted::<Counts<Count>>(console, signed, Api::Tickets, &backlog_path),
        up.get::<PhoneFigures>(token, Api::Phone, &phone_path),
        counted::<SlaFigures>(console, signed, Api::Sla, "/v1/figures"),
        counted::<SurveyFigures>(console, signed, Api::Survey, "/v1/figures?by=department"),
        up.get::<Extensions>(token, Api::Sla, "/v1/extensions?status=pending&limit=200"),
    );
    let mut as_of = AsOf::default();
    let (channels, backlog, phone, sla, survey, extensions) = (
        panel(as_of.take(channels))?,
        panel(as_of.take(backlog))?,
        panel(phone)?,
        panel(as_of.take(sla))?,
        panel(as_of.take(survey))?,
        panel(extensions)?,
    );
    let extensions = extensions.map(|mut e: Extensions| {
        e.extensions
            .retain(|x| Some(x.ticket_no.as_str()) != decided);
        e
    });
    let offset = console.parts().offset;
    let mut h = Html::new();
    let na = |h: &mut Html| {
        h.raw("<span class=\"muted\">")
            .text(s.unavailable)
            .raw("</span>");
    };

    // The figures across the top.
    h.raw("<div class=\"tiles figures\">");
    h.raw("<div class=\"card\" id=\"fig-contacts\"><strong>")
        .text(s.contacts_today)
        .raw("</strong>");
    match &channels {
        Some(c) => {
            let total: i64 = c.cells.iter().map(|c| c.count).sum();
            h.raw("<span class=\"big\">")
                .display(total)
                .raw("</span><span>");
            let parts: Vec<String> = c
                .cells
                .iter()
                .map(|c| format!("{} {}", Texts::name(t.channels, &c.key), c.count))
                .collect();
            h.text(parts.join(" · ")).raw("</span>");
        }
        None => na(&mut h),
    }
    h.raw("</div><div class=\"card\" id=\"fig-answer\"><strong>")
        .text(s.answer_rate)
        .raw("</strong>");
    match &phone {
        Some(p) => {
            h.raw("<span class=\"big\">")
                .text(report::percent(p.answer_rate))
                .raw("</span><span>")
                .text(s.offered_answered)
                .raw(" ")
                .display(p.offered)
                .raw(" / ")
                .display(p.answered)
                .raw("</span>");
        }
        None => na(&mut h),
    }
    h.raw("</div><div class=\"card\" id=\"fig-ontime\"><strong>")
        .text(s.on_time_completion)
        .raw("</strong>");
    match &sla {
        Some(f) => {
            h.raw("<span class=\"big\">")
                .text(report::percent(f.completion_on_time_rate))
                .raw("</span><span>")
                .text(s.overdue_now)
                .raw(" ")
                .display(f.overdue_now)
                .raw("</span>");
        }
        None => na(&mut h),
    }
    h.raw("</div><div class=\"card\" id=\"fig-satisfaction\"><strong>")
        .text(s.satisfaction)
        .raw("</strong>");
    match survey.as_ref().and_then(|f| f.total.as_ref()) {
        Some(total) => {
            h.raw("<span class=\"big\">")
                .text(report::percent(total.satisfaction_rate))
                .raw("</span><span>")
                .text(s.surveys)
                .raw(" ")
                .display(total.answered)
                .raw("</span>");
        }
        None => na(&mut h),
    }
    h.raw("</div></div>");
    h.append(as_of.note(lang, console));

    // Departments: backlog now, overdue now, overdue and 督办 in the last 30 days.
    let mut rows: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
    for c in backlog.iter().flat_map(|b| &b.cells) {
        if !c.key.is_empty() {
            rows.entry(c.key.clone()).or_default().0 += c.count;
        }
    }
    for r in sla.iter().flat_map(|f| &f.rows) {
        if r.department != "centre" {
            let e = rows.entry(r.department.clone()).or_default();
            e.1 += r.overdue_now;
            e.2 += r.overdue;
            e.3 += r.supervised;
        }
    }
    let mut rows: Vec<(String, (i64, i64, i64, i64))> = rows.into_iter().collect();
    // The most pressing first: overdue now, then backlog.
    rows.sort_by(|a, b| (b.1.1, b.1.0).cmp(&(a.1.1, a.1.0)).then(a.0.cmp(&b.0)));
    h.raw("<h2>")
        .text(s.by_department)
        .raw("</h2><div class=\"table-wrap\"><table id=\"departments\"><thead><tr><th>")
        .text(s.department)
        .raw("</th><th>")
        .text(s.backlog)
        .raw("</th><th>")
        .text(s.overdue_now)
        .raw("</th><th>")
        .text(s.overdue)
        .raw(" (")
        .text(s.last_30_days)
        .raw(")</th><th>")
        .text(s.supervised)
        .raw(" (")
        .text(s.last_30_days)
        .raw(")</th></tr></thead><tbody>");
    if backlog.is_none() || sla.is_none() {
        h.raw("<tr><td colspan=\"5\">")
            .text(s.unavailable)
            .raw("</td></tr>");
    }
    for (dept, (backlog, overdue_now, overdue, supervised)) in &rows {
        h.raw("<tr id=\"dept-")
            .text(dept)
            .raw("\"")
            .raw(if *overdue_now > 0 {
                " class=\"row-over\""
            } else {
                ""
            })
            .raw("><td>")
            .text(department_name(lang, dept))
            .raw(" <span class=\"mono muted\">")
            .text(dept)
            .raw("</span></td><td class=\"backlog\">")
            .display(backlog)
            .raw("</td><td>")
            .display(overdue_now)
            .raw("</td><td>")
            .display(overdue)
            .raw("</td><td>")
            .display(supervised)
            .raw("</td></tr>");
    }
    h.raw("</tbody></table></div>");

    // The extension requests to decide.
    h.raw("<h2>").text(s.extensions).raw("</h2>");
    match &extensions {
        None => na(&mut h),
        Some(e) if e.extensions.is_empty() => {
            h.raw("<p class=\"muted\" id=\"no-extensions\">")
                .text(s.no_extensions)
                .raw("</p>");
        }
        Some(e) => {
            h.raw("<div class=\"table-wrap\"><table id=\"extensions\"><thead><tr><th>")
                .text(t.ticket_no)
                .raw("</th><th>")
                .text(s.department)
                .raw("</th><th>")
                .text(s.reason)
                .raw("</th><th>")
                .text(s.previous_due)
                .raw("</th><th>")
                .text(s.until)
                .raw("</th><th>")
                .text(s.requested)
                .raw("</th><th>")
                .text(t.actions)
                .raw("</th></tr></thead><tbody>");
            for x in &e.extensions {
                h.raw("<tr id=\"ext-")
                    .text(&x.ticket_no)
                    .raw("\"><td class=\"mono\"><a href=\"/dispatch/tickets/")
                    .text(&x.ticket_no)
                    .raw("\">")
                    .text(&x.ticket_no)
                    .raw("</a></td><td>")
                    .text(department_name(lang, &x.department))
                    .raw("</td><td>")
                    .text(&x.reason)
                    .raw("</td><td>")
                    .text(pages::local(x.previous_due, offset))
                    .raw("</td><td>")
                    .text(pages::local(x.until, offset))
                    .raw("</td><td>")
                    .text(pages::local(x.requested_at, offset))
                    .raw("</td><td><form class=\"inline\" method=\"post\" action=\"/supervisor/extensions/")
                    .text(&x.ticket_no)
                    .raw("\">")
                    .append(pages::csrf_field(signed))
                    .raw("<input type=\"text\" name=\"note\" maxlength=\"500\" placeholder=\"")
                    .text(s.decision_note)
                    .raw("\"><button class=\"small\" type=\"submit\" name=\"decision\" value=\"approve\">")
                    .text(s.approve)
                    .raw("</button><button class=\"small secondary\" type=\"submit\" name=\"decision\" value=\"deny\">")
                    .text(s.deny)
                    .raw("</button></form></td></tr>");
            }
            h.raw("</tbody></table></div>");
        }
    }
    Ok(h)
}

#[derive(Deserialize)]
struct DecisionForm {
    decision: String,
    #[serde(default)]
    note: String,
}

/// `POST /supervisor/extensions/{no}`: approve or deny a pending extension, with a note.
pub async fn decide(
    State(console): State<Console>,
    signed: Signed,
    Path(no): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    signed.require(SUPERVISOR_ROLES)?;
    let form: DecisionForm = signed.form(&console, &headers, &body)?;
    let no = ticket_no(&no)?;
    let approved = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return Err(ConsoleError::Invalid("decision: approve or deny".into())),
    };
    let _: Value = console
        .parts()
        .upstream
        .send(
            signed.token(),
            Method::POST,
            Api::Sla,
            &format!("/v1/extensions/{no}/decision"),
            &json!({ "approved": approved, "note": form.note.trim() }),
            None,
        )
        .await?;
    Ok(pages::see_other(&format!(
        "/supervisor?done={no}%20{}",
        form.decision
    )))
}

/// The report's rows for `period`, and when their counts were read.
async fn report_rows(
    console: &Console,
    signed: &Signed,
    period: Period,
) -> Result<(Vec<ReportRow>, AsOf), ConsoleError> {
    let dates = format!("from={}&to={}", period.first, period.last);
    let sla_path = format!("/v1/figures?{dates}");
    let survey_path = format!("/v1/figures?{dates}&by=department");
    let (sla, survey) = tokio::join!(
        counted::<SlaFigures>(console, signed, Api::Sla, &sla_path),
        counted::<SurveyFigures>(console, signed, Api::Survey, &survey_path),
    );
    let mut as_of = AsOf::default();
    // The deadlines are the report's core: without them there is no report. Satisfaction
    // missing shows as no figure.
    let sla = as_of.take(sla)?;
    let survey = panel(as_of.take(survey))?;
    Ok((
        report::rows(&sla.rows, survey.as_ref().map_or(&[][..], |s| &s.rows)),
        as_of,
    ))
}

fn report_header(lang: Lang) -> Vec<&'static str> {
    let s = lang.t().sup();
    vec![
        s.department,
        s.completed,
        s.on_time_rate,
        s.overdue,
        s.overdue_now,
        s.supervised,
        s.surveys,
        s.satisfaction_rate,
    ]
}

fn report_cells(lang: Lang, rows: &[ReportRow]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            vec![
                format!("{} {}", department_name(lang, &r.department), r.department),
                r.completed.to_string(),
                report::percent(r.on_time_rate),
                r.overdue.to_string(),
                r.overdue_now.to_string(),
                r.supervised.to_string(),
                r.surveys.to_string(),
                report::percent(r.satisfaction_rate),
            ]
        })
        .collect()
}

fn period_form(lang: Lang, action: &'static str, period: Period, topic: Option<&str>) -> Html {
    let s = lang.t().sup();
    let mut h = Html::new();
    h.raw("<form class=\"inline\" method=\"get\" action=\"")
        .raw(action)
        .raw("\"><label for=\"period\">")
        .text(s.period)
        .raw("</label><input type=\"text\" id=\"period\" name=\"period\" maxlength=\"40\" value=\"")
        .text(period.query())
        .raw("\" title=\"")
        .text(s.period_hint)
        .raw("\">");
    if let Some(topic) = topic {
        h.raw("<input type=\"hidden\" name=\"topic\" value=\"")
            .text(topic)
            .raw("\">");
    }
    h.raw("<button type=\"submit\">")
        .text(s.show)
        .raw("</button> <span class=\"muted small\">")
        .text(s.period_hint)
        .raw("</span></form>");
    h
}

/// `GET /supervisor/report?period=`: the report as a table, with its downloads.
pub async fn report_page(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, ConsoleError> {
    signed.require(SUPERVISOR_ROLES)?;
    let s = lang.t().sup();
    let period = q.period(&console)?;
    let (rows, as_of) = report_rows(&console, &signed, period).await?;
    let mut body = Html::new();
    let link = serde_urlencoded::to_string([("period", period.query())]).unwrap_or_default();
    body.raw("<h1>")
        .text(s.report_title)
        .raw(" <span class=\"muted\">")
        .text(period.query())
        .raw("</span></h1>")
        .append(period_form(lang, "/supervisor/report", period, None))
        .raw("<p><a class=\"button secondary\" hx-boost=\"false\" id=\"report-csv\" href=\"/supervisor/report.csv?")
        .text(&link)
        .raw("\">")
        .text(s.download_csv)
        .raw("</a> <a class=\"button secondary\" hx-boost=\"false\" id=\"report-pdf\" href=\"/supervisor/report.pdf?")
        .text(&link)
        .raw("\">")
        .text(s.download_pdf)
        .raw("</a></p><div class=\"table-wrap\"><table id=\"report\"><thead><tr>");
    for h in report_header(lang) {
        body.raw("<th>").text(h).raw("</th>");
    }
    body.raw("</tr></thead><tbody>");
    for (row, cells) in rows.iter().zip(report_cells(lang, &rows)) {
        body.raw("<tr id=\"r-").text(&row.department).raw("\">");
        for c in cells {
            body.raw("<td>").text(c).raw("</td>");
        }
        body.raw("</tr>");
    }
    if rows.is_empty() {
        body.raw("<tr><td colspan=\"8\" class=\"muted\">")
            .text(s.none)
            .raw("</td></tr>");
    }
    body.raw("</tbody></table></div>")
        .append(as_of.note(lang, &console));
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::Report),
            s.report_title,
            body,
        ),
    ))
}

fn download(content_type: &'static str, filename: String, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    let mut r = (StatusCode::OK, bytes).into_response();
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    if let Ok(v) = header::HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// `GET /supervisor/report.csv?period=`: UTF-8 with a BOM (Excel reads the Chinese right).
pub async fn report_csv(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, ConsoleError> {
    signed.require(SUPERVISOR_ROLES)?;
    let period = q.period(&console)?;
    let (rows, _) = report_rows(&console, &signed, period).await?;
    let file = report::csv(&report_header(lang), &report_cells(lang, &rows));
    Ok(download(
        "text/csv; charset=utf-8",
        format!("report-{}_{}.csv", period.first, period.last),
        file.into_bytes(),
    ))
}

/// `GET /supervisor/report.pdf?period=`.
pub async fn report_pdf(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, ConsoleError> {
    signed.require(SUPERVISOR_ROLES)?;
    let s = lang.t().sup();
    let period = q.period(&console)?;
    let (rows, _) = report_rows(&console, &signed, period).await?;
    let pdf = crate::pdf::table(
        s.report_title,
        &format!("{} {} … {}", s.period, period.first, period.last),
        &report_header(lang),
        &report_cells(lang, &rows),
    );
    Ok(download(
        "application/pdf",
        format!("report-{}_{}.pdf", period.first, period.last),
        pdf,
    ))
}

/// What the hotspot page and its JSON show for a period (and one class, or all).
struct Hotspots {
    /// Tickets per district (of `topic`, or all).
    by_district: BTreeMap<String, i64>,
    /// The largest class × district cells.
    top: Vec<(String, String, i64)>,
    rising: Vec<report::Rising>,
    /// Class code → its name in the catalogue.
    classes: BTreeMap<String, String>,
    as_of: AsOf,
}

async fn hotspots_for(
    console: &Console,
    signed: &Signed,
    period: Period,
    topic: Option<&str>,
) -> Result<Hotspots, ConsoleError> {
    let offset = console.parts().offset;
    let (from, to) = period.instants(offset);
    let (pfrom, pto) = period.previous().instants(offset);
    let now_path = format!("/v1/hotspots?from={}&to={}", z(from), z(to));
    let before_path = format!("/v1/hotspots?from={}&to={}", z(pfrom), z(pto));
    let (now, before, catalogue) = tokio::join!(
        counted::<Counts<Cell>>(console, signed, Api::Tickets, &now_path),
        counted::<Counts<Cell>>(console, signed, Api::Tickets, &before_path),
        counted::<Vec<Value>>(console, signed, Api::Dispatch, "/v1/catalogue"),
    );
    let mut as_of = AsOf::default();
    let (now, before) = (as_of.take(now)?, as_of.take(before)?);
    // The catalogue only names the classes: without it the codes show.
    let mut classes = BTreeMap::new();
    for e in panel(catalogue.map(|c| c.value))?.unwrap_or_default() {
        if let (Some(code), Some(group)) = (e["code"].as_str(), e["group"].as_str()) {
            let class = code.split('.').next().unwrap_or(code);
            classes
                .entry(class.to_owned())
                .or_insert_with(|| group.to_owned());
        }
    }
    let mut by_district = BTreeMap::new();
    let mut per_class_now = BTreeMap::new();
    let mut top = Vec::new();
    for c in &now.cells {
        *per_class_now.entry(c.class.clone()).or_insert(0) += c.count;
        if topic.is_none_or(|t| t == c.class) {
            *by_district.entry(c.district.clone()).or_insert(0) += c.count;
            top.push((c.class.clone(), c.district.clone(), c.count));
        }
    }
    let mut per_class_before = BTreeMap::new();
    for c in &before.cells {
        *per_class_before.entry(c.class.clone()).or_insert(0) += c.count;
    }
    top.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    top.truncate(15);
    Ok(Hotspots {
        by_district,
        top,
        rising: report::rising(&per_class_now, &per_class_before),
        classes,
        as_of,
    })
}

fn class_name(lang: Lang, h: &Hotspots, class: &str) -> String {
    if class.is_empty() {
        return lang.t().sup().unclassified.to_owned();
    }
    match h.classes.get(class) {
        Some(name) => format!("{class} {name}"),
        None => class.to_owned(),
    }
}

fn district_name(lang: Lang, code: &str) -> String {
    if code.is_empty() {
        return lang.t().sup().unknown_district.to_owned();
    }
    let name = department_name(lang, code);
    name.strip_suffix("人民政府").unwrap_or(&name).to_owned()
}

/// `GET /supervisor/hotspots?period=&topic=`: the map, the top cells, the rising classes.
pub async fn hotspots(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, ConsoleError> {
    signed.require(SUPERVISOR_ROLES)?;
    let s = lang.t().sup();
    let period = q.period(&console)?;
    let topic = q.topic.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let h = hotspots_for(&console, &signed, period, topic).await?;
    let mut query = vec![("period", period.query())];
    if let Some(t) = topic {
        query.push(("topic", t.to_owned()));
    }
    let data = format!(
        "/supervisor/hotspots.json?{}",
        serde_urlencoded::to_string(&query).unwrap_or_default()
    );
    let mut body = Html::new();
    body.raw("<h1>")
        .text(s.hotspots_title)
        .raw(" <span class=\"muted\">")
        .text(period.query())
        .raw("</span></h1>")
        .append(period_form(lang, "/supervisor/hotspots", period, None));
    // The classes to narrow the map to.
    body.raw("<p class=\"topics\"><a href=\"/supervisor/hotspots?")
        .text(serde_urlencoded::to_string([("period", period.query())]).unwrap_or_default())
        .raw("\"")
        .raw(if topic.is_none() {
            " aria-current=\"page\""
        } else {
            ""
        })
        .raw(">")
        .text(s.all_topics)
        .raw("</a>");
    let mut seen: Vec<&String> = h.rising.iter().map(|r| &r.topic).collect();
    for (class, _, _) in &h.top {
        if !seen.contains(&class) {
            seen.push(class);
        }
    }
    for class in seen.into_iter().filter(|c| !c.is_empty()) {
        body.raw(" · <a href=\"/supervisor/hotspots?")
            .text(
                serde_urlencoded::to_string([("period", period.query()), ("topic", class.clone())])
                    .unwrap_or_default(),
            )
            .raw("\"")
            .raw(if topic == Some(class.as_str()) {
                " aria-current=\"page\""
            } else {
                ""
            })
            .raw(">")
            .text(class_name(lang, &h, class))
            .raw("</a>");
    }
    body.raw("</p><div class=\"hotspots\"><div id=\"hotspot-map\" class=\"map card\" data-src=\"")
        .text(&data)
        .raw("\" data-geo=\"")
        .text(assets::url("guangzhou-districts.geojson"))
        .raw("\" data-echarts=\"")
        .text(assets::url("echarts.min.js"))
        .raw("\"></div><p class=\"muted small\">")
        .text(s.map_note)
        .raw("</p></div>");
    body.raw("<h2>").text(s.rising_title).raw("</h2>");
    if h.rising.is_empty() {
        body.raw("<p class=\"muted\">")
            .text(s.no_rising)
            .raw("</p>");
    } else {
        body.raw("<div class=\"table-wrap\"><table id=\"rising\"><thead><tr><th>")
            .text(s.topic)
            .raw("</th><th>")
            .text(s.now)
            .raw("</th><th>")
            .text(s.before)
            .raw("</th><th>")
            .text(s.ratio)
            .raw("</th></tr></thead><tbody>");
        for r in &h.rising {
            body.raw("<tr id=\"rise-")
                .text(&r.topic)
                .raw("\"><td>")
                .text(class_name(lang, &h, &r.topic))
                .raw("</td><td>")
                .display(r.now)
                .raw("</td><td>")
                .display(r.before)
                .raw("</td><td>")
                .text(
                    r.ratio
                        .map_or_else(|| s.new_topic.to_owned(), |x| format!("×{x:.2}")),
                )
                .raw("</td></tr>");
        }
        body.raw("</tbody></table></div>");
    }
    body.raw("<h2>")
        .text(s.top_cells)
        .raw("</h2><div class=\"table-wrap\"><table id=\"cells\"><thead><tr><th>")
        .text(s.topic)
        .raw("</th><th>")
        .text(s.district)
        .raw("</th><th>")
        .text(s.count)
        .raw("</th></tr></thead><tbody>");
    for (class, district, count) in &h.top {
        body.raw("<tr><td>")
            .text(class_name(lang, &h, class))
            .raw("</td><td>")
            .text(district_name(lang, district))
            .raw("</td><td>")
            .display(count)
            .raw("</td></tr>");
    }
    body.raw("</tbody></table></div>")
        .append(h.as_of.note(lang, &console));
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::Hotspots),
            s.hotspots_title,
            body,
        ),
    ))
}

/// `GET /supervisor/hotspots.json?period=&topic=`: the map's data for `assets/hotspots.js`:
/// `{"districts": [{"name": code, "label", "value"}], "max", "unknown", "title"}`.
pub async fn hotspots_json(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, ConsoleError> {
    signed.require(SUPERVISOR_ROLES)?;
    let period = q.period(&console)?;
    let topic = q.topic.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let h = hotspots_for(&console, &signed, period, topic).await?;
    let districts: Vec<Value> = h
        .by_district
        .iter()
        .filter(|(code, _)| !code.is_empty())
        .map(|(code, n)| json!({ "name": code, "label": district_name(lang, code), "value": n }))
        .collect();
    Ok(Json(json!({
        "period": period.query(),
        "topic": topic.map(|t| class_name(lang, &h, t)),
        "districts": districts,
        "max": h.by_district.iter().filter(|(c, _)| !c.is_empty()).map(|(_, n)| *n).max().unwrap_or(0),
        "unknown": h.by_district.get("").copied().unwrap_or(0),
        "labels": Directory::demo().districts().map(|d| (d.code.as_str().to_owned(), district_name(lang, d.code.as_str()))).collect::<BTreeMap<_, _>>(),
    }))
    .into_response())
}
