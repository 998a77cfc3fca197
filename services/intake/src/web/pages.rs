//! The pages: the report form, the receipt, the progress lookup, and errors.
//!
//! Plain HTML that works without scripts and reads well to a screen reader: `lang="zh-CN"`,
//! a `<label for>` on every input, groups in `fieldset`/`legend`, each error in `role="alert"`
//! right next to its field (and the field `aria-invalid` and described by it). Labels are
//! Chinese first with the English in a smaller `lang="en"` span. Nothing personal the citizen
//! sent is shown back except in the form they are correcting.

use chrono::{DateTime, FixedOffset, Utc};
use hotline_domain::contract::{
    AttributeType, CatalogueService, HistoryEntry, ServiceAttribute, TicketUpdate, TicketView,
};
use hotline_domain::{Status, TicketNo};

use super::error::{WebError, attribute_id, field};
use super::form::{LookupInput, ReportForm};
use super::html::Html;
use super::photo::{MAX_PHOTO_BYTES, MAX_PHOTOS, StoredPhoto};
use crate::catalogue::Snapshot;

/// What every page knows.
pub struct Site<'a> {
    pub city: &'a str,
    pub offset: FixedOffset,
}

fn layout(site: &Site<'_>, title: &str, body: Html) -> String {
    let mut page = Html::new();
    page.raw(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
    )
    .text(title)
    .raw(
        " · 12345</title>\n<link rel=\"stylesheet\" href=\"/static/site.css\">\n\
         <link rel=\"icon\" href=\"/static/icon.svg\" type=\"image/svg+xml\">\n</head>\n<body>\n",
    )
    .raw("<a class=\"skip\" href=\"#main\">跳到正文 <span lang=\"en\">Skip to content</span></a>\n")
    .raw("<header class=\"site\">\n<p class=\"brand\"><a href=\"/\">")
    .text(site.city)
    .raw(
        " 12345 政务服务便民热线</a> <span lang=\"en\">Government service hotline</span></p>\n\
         <nav aria-label=\"主菜单 Main\"><ul>\
         <li><a href=\"/\">我要反映 <span lang=\"en\">Report a problem</span></a></li>\
         <li><a href=\"/progress\">查询进度 <span lang=\"en\">Track a request</span></a></li>\
         </ul></nav>\n</header>\n<main id=\"main\">\n",
    )
    .append(body)
    .raw(
        "</main>\n<footer><p>紧急情况请直接拨打 110、119、120。\
         <span lang=\"en\">In an emergency call 110, 119 or 120.</span></p></footer>\n\
         </body>\n</html>\n",
    );
    page.finish()
}

/// The label `<label for=id>` with Chinese and English parts.
fn label(page: &mut Html, id: &str, zh: &'static str, en: &'static str, required: bool) {
    page.raw("<label for=\"")
        .text(id)
        .raw("\">")
        .raw(zh)
        .raw(" <span lang=\"en\">")
        .raw(en)
        .raw("</span>");
    if required {
        page.raw(" <span class=\"required\">（必填 <span lang=\"en\">required</span>）</span>");
    }
    page.raw("</label>\n");
}

/// The error next to field `id`, if the error is about it; answers whether it was.
fn field_error(page: &mut Html, id: &str, error: Option<&WebError>) -> bool {
    match error {
        Some(e) if e.field().as_deref() == Some(id) => {
            page.raw("<p class=\"error\" id=\"")
                .text(id)
                .raw("-error\" role=\"alert\">")
                .text(e.message())
                .raw("</p>\n");
            true
        }
        _ => false,
    }
}

/// ` aria-invalid="true" aria-describedby="…"` for a field with an error and/or a hint.
fn described(page: &mut Html, id: &str, invalid: bool, hint: bool) {
    if invalid {
        page.raw(" aria-invalid=\"true\"");
    }
    if invalid || hint {
        page.raw(" aria-describedby=\"");
        if invalid {
            page.text(id).raw("-error");
        }
        if invalid && hint {
            page.raw(" ");
        }
        if hint {
            page.text(id).raw("-hint");
        }
        page.raw("\"");
    }
}

/// An error about the whole page, at its top.
fn page_error(page: &mut Html, error: Option<&WebError>) {
    if let Some(e) = error
        && e.field().is_none()
    {
        page.raw("<div class=\"error banner\" role=\"alert\"><p>")
            .text(e.message())
            .raw("</p></div>\n");
    }
}

/// What the report form shows.
pub struct FormView<'a> {
    pub catalogue: &'a Snapshot,
    pub token: &'a str,
    /// The form as sent, when it is shown again.
    pub sent: Option<&'a ReportForm>,
    /// The category chosen (sent, or `?category=` in the link): its questions are asked.
    pub selected: Option<&'a CatalogueService>,
    pub error: Option<&'a WebError>,
    pub max_description: usize,
}

pub fn report_form(site: &Site<'_>, view: &FormView<'_>) -> String {
    let value = |name: &str| {
        view.sent
            .and_then(|f| f.value(name))
            .unwrap_or_default()
            .to_owned()
    };
    let error = view.error;
    let mut page = Html::new();
    page.raw("<h1>我要反映 <span lang=\"en\">Report a problem</span></h1>\n")
        .raw(
            "<p class=\"lead\">请说明问题和地点，我们会转交负责的部门，并在规定时限内答复。\
             <span lang=\"en\">Tell us what and where; we pass it to the department in charge \
             and answer within the set time.</span></p>\n",
        );
    page_error(&mut page, error);
    page.raw(
        "<form method=\"post\" action=\"/\" enctype=\"multipart/form-data\" \
         accept-charset=\"UTF-8\">\n<input type=\"hidden\" name=\"token\" value=\"",
    )
    .text(view.token)
    .raw("\">\n");

    // What and where.
    page.raw("<fieldset>\n<legend>诉求内容 <span lang=\"en\">Your request</span></legend>\n");
    page.raw("<div class=\"field\">\n");
    label(&mut page, field::CATEGORY, "诉求类别", "Category", true);
    let invalid = field_error(&mut page, field::CATEGORY, error);
    page.raw("<select id=\"category\" name=\"category\" required");
    described(&mut page, field::CATEGORY, invalid, false);
    page.raw(">\n<option value=\"\">请选择 — Choose</option>\n");
    let chosen = view.selected.map(|s| s.code.as_str().to_owned());
    let mut group: Option<&str> = None;
    for service in view.catalogue.services() {
        if group != Some(service.group.as_str()) {
            if group.is_some() {
                page.raw("</optgroup>\n");
            }
            page.raw("<optgroup label=\"")
                .text(&service.group)
                .raw("\">\n");
            group = Some(service.group.as_str());
        }
        page.raw("<option value=\"")
            .text(service.code.as_str())
            .raw("\"");
        if chosen.as_deref() == Some(service.code.as_str()) {
            page.raw(" selected");
        }
        page.raw(">").text(&service.name).raw("</option>\n");
    }
    if group.is_some() {
        page.raw("</optgroup>\n");
    }
    page.raw("</select>\n</div>\n");

    if let Some(service) = view.selected {
        attributes(&mut page, service, view.sent, error);
    }

    page.raw("<div class=\"field\">\n");
    label(
        &mut page,
        field::DESCRIPTION,
        "问题描述",
        "Description",
        true,
    );
    page.raw("<p class=\"hint\" id=\"description-hint\">最多 ")
        .display(view.max_description)
        .raw(" 字。请勿填写身份证号等与问题无关的个人信息。<span lang=\"en\">At most ")
        .display(view.max_description)
        .raw(" characters. Leave out personal details the matter does not need.</span></p>\n");
    let invalid = field_error(&mut page, field::DESCRIPTION, error);
    page.raw("<textarea id=\"description\" name=\"description\" rows=\"6\" required maxlength=\"")
        .display(view.max_description)
        .raw("\"");
    described(&mut page, field::DESCRIPTION, invalid, true);
    page.raw(">")
        .text(value("description"))
        .raw("</textarea>\n</div>\n");

    page.raw("<div class=\"field\">\n");
    label(&mut page, field::ADDRESS, "地址", "Address", true);
    page.raw(
        "<p class=\"hint\" id=\"address-hint\">区、街道、门牌号或附近的标志性建筑。\
         <span lang=\"en\">District, street and number, or a landmark nearby.</span></p>\n",
    );
    let invalid = field_error(&mut page, field::ADDRESS, error);
    page.raw(
        "<input type=\"text\" id=\"address\" name=\"address\" required maxlength=\"500\" \
         autocomplete=\"street-address\" value=\"",
    )
    .text(value("address"))
    .raw("\"");
    described(&mut page, field::ADDRESS, invalid, true);
    page.raw(">\n</div>\n</fieldset>\n");

    // Who.
    page.raw(
        "<fieldset>\n<legend>联系方式 <span lang=\"en\">How to reach you</span></legend>\n\
         <p class=\"hint\">只有热线和办理部门的工作人员能看到。留下手机号码才能在线查询进度。\
         <span lang=\"en\">Seen only by the hotline's and the department's staff. Leave a \
         phone number to track the request online.</span></p>\n",
    );
    page.raw("<div class=\"field\">\n");
    label(&mut page, field::NAME, "姓名", "Name", false);
    let invalid = field_error(&mut page, field::NAME, error);
    page.raw(
        "<input type=\"text\" id=\"name\" name=\"name\" maxlength=\"255\" \
         autocomplete=\"name\" value=\"",
    )
    .text(value("name"))
    .raw("\"");
    described(&mut page, field::NAME, invalid, false);
    page.raw(">\n</div>\n<div class=\"field\">\n");
    label(&mut page, field::PHONE, "手机号码", "Phone number", false);
    page.raw(
        "<p class=\"hint\" id=\"phone-hint\">用于回访和查询进度（凭后 4 位）。\
         <span lang=\"en\">For the follow-up call and to track the request (by its last 4 \
         digits).</span></p>\n",
    );
    let invalid = field_error(&mut page, field::PHONE, error);
    page.raw(
        "<input type=\"tel\" id=\"phone\" name=\"phone\" maxlength=\"32\" inputmode=\"tel\" \
         autocomplete=\"tel\" value=\"",
    )
    .text(value("phone"))
    .raw("\"");
    described(&mut page, field::PHONE, invalid, true);
    page.raw(">\n</div>\n<div class=\"field check\">\n");
    let invalid = field_error(&mut page, field::CONFIDENTIAL, error);
    page.raw("<input type=\"checkbox\" id=\"confidential\" name=\"confidential\" value=\"on\"");
    if !value("confidential").is_empty() {
        page.raw(" checked");
    }
    described(&mut page, field::CONFIDENTIAL, invalid, true);
    page.raw(">\n");
    label(
        &mut page,
        field::CONFIDENTIAL,
        "保密：不向办理部门提供我的联系方式",
        "Confidential: the department does not get my contact details",
        false,
    );
    page.raw(
        "<p class=\"hint\" id=\"confidential-hint\">保密诉求的内容和地址也不会公开。\
         <span lang=\"en\">What you wrote and where are not published either.</span></p>\n\
         </div>\n</fieldset>\n",
    );

    // Photos.
    page.raw("<fieldset>\n<legend>照片 <span lang=\"en\">Photos</span></legend>\n");
    page.raw("<div class=\"field\">\n");
    label(&mut page, field::PHOTOS, "选择照片", "Choose photos", false);
    page.raw("<p class=\"hint\" id=\"photos-hint\">可选，最多 ")
        .display(MAX_PHOTOS)
        .raw(" 张，每张不超过 ")
        .display(MAX_PHOTO_BYTES / (1024 * 1024))
        .raw(" MiB，JPEG、PNG 或 WebP 格式。<span lang=\"en\">Optional: up to ")
        .display(MAX_PHOTOS)
        .raw(" photos of at most ")
        .display(MAX_PHOTO_BYTES / (1024 * 1024))
        .raw(" MiB each, JPEG, PNG or WebP.</span></p>\n");
    let invalid = field_error(&mut page, field::PHOTOS, error);
    page.raw(
        "<input type=\"file\" id=\"photos\" name=\"photo\" multiple \
         accept=\"image/jpeg,image/png,image/webp\"",
    );
    described(&mut page, field::PHOTOS, invalid, true);
    page.raw(">\n</div>\n</fieldset>\n");
    page.raw(
        "<p><button type=\"submit\">提交 <span lang=\"en\">Send</span></button></p>\n</form>\n",
    );
    layout(site, "我要反映 Report a problem", page)
}

/// The chosen service's questions (Open311 service definition attributes).
fn attributes(
    page: &mut Html,
    service: &CatalogueService,
    sent: Option<&ReportForm>,
    error: Option<&WebError>,
) {
    let mut list: Vec<&ServiceAttribute> = service.attributes.iter().collect();
    if list.is_empty() {
        return;
    }
    list.sort_by_key(|a| a.order);
    page.raw("<fieldset class=\"attributes\">\n<legend>补充信息 <span lang=\"en\">About ")
        .text(&service.name)
        .raw("</span></legend>\n");
    for attribute in list {
        if !attribute.variable {
            page.raw("<p class=\"hint\">")
                .text(&attribute.description)
                .raw("</p>\n");
            continue;
        }
        let id = attribute_id(&attribute.code);
        let name = format!("attribute[{}]", attribute.code);
        let current: Vec<String> = sent
            .map(|f| {
                f.values(&name)
                    .chain(f.values(&format!("{name}[]")))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let required = |page: &mut Html| {
            if attribute.required {
                page.raw(" required");
            }
        };
        if attribute.datatype == AttributeType::Multivaluelist {
            page.raw("<fieldset class=\"field\" id=\"")
                .text(&id)
                .raw("\">\n<legend>")
                .text(&attribute.description)
                .raw("</legend>\n");
            field_error(page, &id, error);
            for (i, value) in attribute.values.iter().enumerate() {
                let option_id = format!("{id}-{i}");
                page.raw("<div class=\"check\"><input type=\"checkbox\" id=\"")
                    .text(&option_id)
                    .raw("\" name=\"")
                    .text(format!("{name}[]"))
                    .raw("\" value=\"")
                    .text(&value.key)
                    .raw("\"");
                if current.contains(&value.key) {
                    page.raw(" checked");
                }
                page.raw("> <label for=\"")
                    .text(&option_id)
                    .raw("\">")
                    .text(&value.name)
                    .raw("</label></div>\n");
            }
            page.raw("</fieldset>\n");
            continue;
        }
        page.raw("<div class=\"field\">\n<label for=\"")
            .text(&id)
            .raw("\">")
            .text(&attribute.description);
        if attribute.required {
            page.raw(" <span class=\"required\">（必填 <span lang=\"en\">required</span>）</span>");
        }
        page.raw("</label>\n");
        let invalid = field_error(page, &id, error);
        let now = current.first().cloned().unwrap_or_default();
        match attribute.datatype {
            AttributeType::Singlevaluelist => {
                page.raw("<select id=\"")
                    .text(&id)
                    .raw("\" name=\"")
                    .text(&name)
                    .raw("\"");
                required(page);
                described(page, &id, invalid, false);
                page.raw(">\n<option value=\"\">请选择 — Choose</option>\n");
                for value in &attribute.values {
                    page.raw("<option value=\"").text(&value.key).raw("\"");
                    if now == value.key {
                        page.raw(" selected");
                    }
                    page.raw(">").text(&value.name).raw("</option>\n");
                }
                page.raw("</select>\n");
            }
            AttributeType::Text => {
                page.raw("<textarea id=\"")
                    .text(&id)
                    .raw("\" name=\"")
                    .text(&name)
                    .raw("\" rows=\"3\"");
                required(page);
                described(page, &id, invalid, false);
                page.raw(">").text(&now).raw("</textarea>\n");
            }
            AttributeType::Number | AttributeType::Datetime | AttributeType::String => {
                let kind = match attribute.datatype {
                    AttributeType::Number => "number\" step=\"any",
                    _ => "text",
                };
                page.raw("<input id=\"")
                    .text(&id)
                    .raw("\" name=\"")
                    .text(&name)
                    .raw("\" type=\"")
                    .raw(kind)
                    .raw("\" value=\"")
                    .text(&now)
                    .raw("\"");
                if attribute.datatype == AttributeType::Datetime {
                    page.raw(" placeholder=\"2026-11-29T08:30:00+08:00\"");
                }
                required(page);
                described(page, &id, invalid, false);
                page.raw(">\n");
            }
            AttributeType::Multivaluelist => {}
        }
        page.raw("</div>\n");
    }
    page.raw("</fieldset>\n");
}

/// What the receipt shows.
pub struct ReceiptView<'a> {
    pub ticket_no: TicketNo,
    pub service_name: &'a str,
    pub confidential: bool,
    pub has_phone: bool,
    /// The form had been sent before: this is its first sending's ticket.
    pub repeated: bool,
    pub photos: &'a [StoredPhoto],
}

pub fn receipt(site: &Site<'_>, view: &ReceiptView<'_>) -> String {
    let mut page = Html::new();
    page.raw("<h1>已受理 <span lang=\"en\">Request received</span></h1>\n")
        .raw(
            "<div class=\"receipt\" role=\"status\">\n<p>您的诉求已受理，工单编号：\
             <span lang=\"en\">Your request was registered as ticket:</span></p>\n\
             <p class=\"ticket-no\" id=\"ticket-no\">",
        )
        .display(view.ticket_no)
        .raw(
            "</p>\n<p>请记下这个编号，查询进度或致电 12345 时都会用到。\
             <span lang=\"en\">Keep this number: you need it to track the request or when you \
             call 12345.</span></p>\n</div>\n",
        );
    if view.repeated {
        page.raw(
            "<p class=\"note\">这张表单已经提交过，以上是它的工单，没有重复受理。\
             <span lang=\"en\">This form had already been sent; this is its ticket, not a \
             second one.</span></p>\n",
        );
    }
    page.raw("<dl>\n<dt>诉求类别 <span lang=\"en\">Category</span></dt><dd>")
        .text(view.service_name)
        .raw("</dd>\n<dt>保密 <span lang=\"en\">Confidential</span></dt><dd>")
        .raw(if view.confidential {
            "是 <span lang=\"en\">yes</span>"
        } else {
            "否 <span lang=\"en\">no</span>"
        })
        .raw("</dd>\n</dl>\n<h2>照片 <span lang=\"en\">Photos</span></h2>\n");
    if view.photos.is_empty() {
        page.raw("<p>没有上传照片。<span lang=\"en\">No photos.</span></p>\n");
    } else {
        page.raw("<ul id=\"photos-stored\">\n");
        for photo in view.photos {
            page.raw("<li>")
                .text(&photo.name)
                .raw("（")
                .text(size(photo.size))
                .raw("）</li>\n");
        }
        page.raw("</ul>\n");
    }
    if view.has_phone {
        page.raw("<p><a href=\"/progress?ticket_no=")
            .display(view.ticket_no)
            .raw(
                "\">查询办理进度 <span lang=\"en\">Track this request</span></a>\
                 （需要手机号码后 4 位 <span lang=\"en\">with your phone's last 4 \
                 digits</span>）</p>\n",
            );
    } else {
        page.raw(
            "<p>您没有留下手机号码，无法在线查询进度；请致电 12345 并提供工单编号。\
             <span lang=\"en\">Without a phone number the request cannot be tracked online; \
             call 12345 with the ticket number.</span></p>\n",
        );
    }
    page.raw(
        "<p><a href=\"/\">反映另一个问题 <span lang=\"en\">Report another problem</span></a></p>\n",
    );
    layout(site, "已受理 Request received", page)
}

fn size(bytes: i32) -> String {
    let bytes = f64::from(bytes);
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    } else {
        format!("{:.0} KiB", (bytes / 1024.0).ceil())
    }
}

/// A ticket as the lookup shows it: no contact details, no description or address.
pub struct Progress<'a> {
    pub ticket: &'a TicketView,
    pub history: &'a [HistoryEntry],
    pub service_name: Option<&'a str>,
}

pub fn progress(
    site: &Site<'_>,
    input: &LookupInput,
    found: Option<&Progress<'_>>,
    error: Option<&WebError>,
) -> String {
    let mut page = Html::new();
    page.raw("<h1>查询进度 <span lang=\"en\">Track a request</span></h1>\n");
    page_error(&mut page, error);
    page.raw(
        "<form method=\"get\" action=\"/progress\">\n<fieldset>\n<legend>工单编号和手机尾号 \
         <span lang=\"en\">Ticket number and phone ending</span></legend>\n<div class=\"field\">\n",
    );
    label(
        &mut page,
        field::TICKET_NO,
        "工单编号",
        "Ticket number",
        true,
    );
    page.raw(
        "<p class=\"hint\" id=\"ticket_no-hint\">受理回执上的 16 位数字。\
         <span lang=\"en\">The 16 digits on your receipt.</span></p>\n",
    );
    let invalid = field_error(&mut page, field::TICKET_NO, error);
    page.raw(
        "<input type=\"text\" id=\"ticket_no\" name=\"ticket_no\" inputmode=\"numeric\" \
         autocomplete=\"off\" required maxlength=\"32\" value=\"",
    )
    .text(&input.ticket_no)
    .raw("\"");
    described(&mut page, field::TICKET_NO, invalid, true);
    page.raw(">\n</div>\n<div class=\"field\">\n");
    label(
        &mut page,
        field::LAST4,
        "手机号码后 4 位",
        "Last 4 digits of your phone number",
        true,
    );
    let invalid = field_error(&mut page, field::LAST4, error);
    // The digits are not put back into the page: they are the secret of the lookup.
    page.raw(
        "<input type=\"text\" id=\"last4\" name=\"last4\" inputmode=\"numeric\" \
         autocomplete=\"off\" required minlength=\"4\" maxlength=\"4\" pattern=\"[0-9]{4}\"",
    );
    described(&mut page, field::LAST4, invalid, false);
    page.raw(
        ">\n</div>\n</fieldset>\n<p><button type=\"submit\">查询 <span lang=\"en\">Look up\
         </span></button></p>\n</form>\n",
    );
    if let Some(found) = found {
        result(&mut page, site.offset, found);
    }
    layout(site, "查询进度 Track a request", page)
}

fn result(page: &mut Html, offset: FixedOffset, found: &Progress<'_>) {
    let ticket = found.ticket;
    page.raw("<section class=\"result\" aria-labelledby=\"result-title\">\n<h2 id=\"result-title\">工单 <span lang=\"en\">Ticket</span> ")
        .display(ticket.ticket_no)
        .raw("</h2>\n<dl>\n");
    if let Some(name) = found.service_name {
        page.raw("<dt>诉求类别 <span lang=\"en\">Category</span></dt><dd>")
            .text(name)
            .raw("</dd>\n");
    }
    page.raw("<dt>当前状态 <span lang=\"en\">Status</span></dt><dd id=\"status\">")
        .raw(status_label(ticket.status))
        .raw("</dd>\n<dt>受理时间 <span lang=\"en\">Received</span></dt><dd>");
    time(page, ticket.created_at, offset);
    page.raw("</dd>\n<dt>最近更新 <span lang=\"en\">Last update</span></dt><dd>");
    time(page, ticket.updated_at, offset);
    page.raw("</dd>\n</dl>\n<h3>办理经过 <span lang=\"en\">Steps</span></h3>\n<ol class=\"timeline\" id=\"timeline\">\n");
    for entry in found.history {
        let note = if entry.action.is_none() {
            // The first entry: the ticket was registered.
            Some("您的诉求已登记。Your request was registered.".to_owned())
        } else {
            // The same rules as Open311's public updates: internal steps are left out, and a
            // confidential ticket's notes are replaced by what happened.
            let update = TicketUpdate {
                ticket_no: ticket.ticket_no,
                entry: entry.clone(),
                status_after: entry.to,
            };
            match crate::present::request_update(&update, ticket.confidential, offset) {
                Some(out) => Some(out.description),
                None => continue,
            }
        };
        page.raw("<li>");
        time(page, entry.at, offset);
        page.raw(" <strong>")
            .raw(status_label(entry.to))
            .raw("</strong>");
        if let Some(note) = note.filter(|n| !n.trim().is_empty()) {
            page.raw(" <span class=\"note\">").text(note).raw("</span>");
        }
        page.raw("</li>\n");
    }
    page.raw("</ol>\n</section>\n");
}

fn time(page: &mut Html, at: DateTime<Utc>, offset: FixedOffset) {
    let local = at.with_timezone(&offset);
    page.raw("<time datetime=\"")
        .text(local.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
        .raw("\">")
        .text(local.format("%Y-%m-%d %H:%M").to_string())
        .raw("</time>");
}

/// A status as the citizen reads it.
pub fn status_label(status: Status) -> &'static str {
    match status {
        Status::Received => "已受理 <span lang=\"en\">Received</span>",
        Status::Answered => "已直接答复 <span lang=\"en\">Answered</span>",
        Status::Rejected => "不予受理 <span lang=\"en\">Not accepted</span>",
        Status::Emergency => "已转紧急部门 <span lang=\"en\">Referred to emergency services</span>",
        Status::Merged => "已并单 <span lang=\"en\">Merged with an earlier request</span>",
        Status::Dispatched => "已派单 <span lang=\"en\">Sent to the department</span>",
        Status::Returned => "复核中 <span lang=\"en\">Under review</span>",
        Status::Accepted => "部门已签收 <span lang=\"en\">Accepted by the department</span>",
        Status::InProgress => "办理中 <span lang=\"en\">In progress</span>",
        Status::AwaitingCitizen => {
            "待您补充材料 <span lang=\"en\">Waiting for your information</span>"
        }
        Status::Replied => "部门已答复 <span lang=\"en\">The department replied</span>",
        Status::Completed => "已办结 <span lang=\"en\">Completed</span>",
        Status::Surveyed => "已回访 <span lang=\"en\">Followed up</span>",
        Status::Reopened => "重新办理 <span lang=\"en\">Reopened</span>",
        Status::Closed => "已关闭 <span lang=\"en\">Closed</span>",
    }
}

/// A page that only says what went wrong, with a way back.
pub fn error_page(site: &Site<'_>, error: &WebError, back: &'static str) -> String {
    let mut page = Html::new();
    page.raw("<h1>")
        .raw(match error.status().as_u16() {
            429 => "请稍后再试 <span lang=\"en\">Please wait</span>",
            404 => "未找到 <span lang=\"en\">Not found</span>",
            400 | 403 | 413 => "无法受理 <span lang=\"en\">Not accepted</span>",
            _ => "暂时无法服务 <span lang=\"en\">Temporarily unavailable</span>",
        })
        .raw("</h1>\n<div class=\"error banner\" role=\"alert\"><p>")
        .text(error.message())
        .raw("</p></div>\n<p><a href=\"")
        .raw(back)
        .raw("\">返回 <span lang=\"en\">Back</span></a></p>\n");
    layout(site, "出错了 Something went wrong", page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Rejection;

    fn site() -> Site<'static> {
        Site {
            city: "广州",
            offset: FixedOffset::east_opt(8 * 3600).expect("offset"),
        }
    }

    async fn snapshot() -> std::sync::Arc<Snapshot> {
        let mut noise = crate::testing::service_with_attributes("S1");
        noise.name = "噪音 <扰民>".into();
        let source =
            crate::testing::FakeCatalogue::with(vec![noise, crate::testing::service("S2")]);
        crate::catalogue::Catalogue::new(std::sync::Arc::new(source))
            .snapshot()
            .await
            .expect("loaded")
    }

    /// Every `<input>`, `<select>` and `<textarea>` (but the hidden token) has a label.
    fn every_input_is_labelled(page: &str) {
        for tag in ["<input ", "<select ", "<textarea "] {
            for (at, _) in page.match_indices(tag) {
                let rest = &page[at..];
                let end = rest.find('>').expect("tag ends");
                let element = &rest[..end];
                if element.contains("type=\"hidden\"") {
                    continue;
                }
                let id_at = element.find(" id=\"").expect("an id") + 5;
                let id = &element[id_at..id_at + element[id_at..].find('"').expect("quote")];
                assert!(
                    page.contains(&format!("<label for=\"{id}\">")),
                    "no label for {id}"
                );
            }
        }
    }

    #[tokio::test]
    async fn the_form_is_accessible_and_escapes_what_it_shows() {
        let snapshot = snapshot().await;
        let sent = ReportForm {
            fields: vec![
                ("category".into(), "S1".into()),
                (
                    "description".into(),
                    "</textarea><script>alert(1)</script>".into(),
                ),
                ("address".into(), "\" onfocus=\"alert(1)".into()),
            ],
            ..ReportForm::default()
        };
        let error = WebError::from(Rejection::MissingAttribute("when".into()));
        let page = report_form(
            &site(),
            &FormView {
                catalogue: &snapshot,
                token: "0123456789abcdef0123456789abcdef",
                sent: Some(&sent),
                selected: snapshot.get(&hotline_domain::ServiceCode::parse("S1").expect("code")),
                error: Some(&error),
                max_description: 4000,
            },
        );
        assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"zh-CN\">"));
        assert!(page.contains("<meta name=\"viewport\""));
        assert!(page.contains("enctype=\"multipart/form-data\""));
        assert!(!page.contains("<script>"), "escaped");
        assert!(page.contains("&lt;/textarea&gt;&lt;script&gt;"));
        assert!(page.contains("value=\"&quot; onfocus=&quot;alert(1)\""));
        assert!(page.contains("噪音 &lt;扰民&gt;"));
        assert!(page.contains("<option value=\"S1\" selected>"));
        // The chosen service's question is asked, with the error right beside it.
        assert!(page.contains("name=\"attribute[when]\""), "{page}");
        assert!(
            page.contains(
                "<p class=\"error\" id=\"attr-when-error\" role=\"alert\">请回答这个问题。"
            )
        );
        assert!(page.contains("aria-invalid=\"true\" aria-describedby=\"attr-when-error\""));
        // What, the service's questions (one a group of checkboxes), who, photos.
        assert_eq!(page.matches("<fieldset").count(), 5, "{page}");
        assert_eq!(page.matches("<legend>").count(), 5);
        every_input_is_labelled(&page);
    }

    #[tokio::test]
    async fn a_page_wide_error_is_an_alert_at_the_top() {
        let snapshot = snapshot().await;
        let error = WebError::from(super::super::error::FormError::Expired);
        let page = report_form(
            &site(),
            &FormView {
                catalogue: &snapshot,
                token: "0123456789abcdef0123456789abcdef",
                sent: None,
                selected: None,
                error: Some(&error),
                max_description: 10,
            },
        );
        assert!(page.contains("<div class=\"error banner\" role=\"alert\"><p>表单已过期"));
        assert!(
            !page.contains("attribute["),
            "no category chosen, no questions"
        );
        every_input_is_labelled(&page);
    }

    #[test]
    fn the_receipt_shows_the_number_and_photos_but_no_contact_details() {
        let no = TicketNo::compose(261129, 42).expect("no");
        let photos = [StoredPhoto {
            position: 1,
            name: "<b>路灯</b>.png".into(),
            size: 2048,
        }];
        let page = receipt(
            &site(),
            &ReceiptView {
                ticket_no: no,
                service_name: "路灯",
                confidential: true,
                has_phone: true,
                repeated: false,
                photos: &photos,
            },
        );
        assert!(page.contains(&format!("<p class=\"ticket-no\" id=\"ticket-no\">{no}</p>")));
        assert!(page.contains("&lt;b&gt;路灯&lt;/b&gt;.png（2 KiB）"));
        assert!(page.contains(&format!("href=\"/progress?ticket_no={no}\"")));
        assert!(!page.contains("这张表单已经提交过"));
    }

    #[test]
    fn progress_shows_public_steps_only_and_never_the_digits() {
        use hotline_domain::{Action, Actor};
        let mut ticket = crate::testing::ticket_view(7, Status::InProgress);
        let no = ticket.ticket_no;
        let step = |seq, action: Option<Action>, to| HistoryEntry {
            seq,
            at: Utc::now(),
            actor: Actor::system("x"),
            step: "s".into(),
            action,
            from: None,
            to,
        };
        let history = vec![
            step(1, None, Status::Received),
            step(
                2,
                Some(Action::Supervise {
                    note: "internal <note>".into(),
                }),
                Status::InProgress,
            ),
            step(
                3,
                Some(Action::AddProgress {
                    note: "<i>Inspector</i> on the way".into(),
                }),
                Status::InProgress,
            ),
        ];
        let input = LookupInput {
            ticket_no: no.to_string(),
            last4: "8000".into(),
            sent: true,
        };
        let found = Progress {
            ticket: &ticket,
            history: &history,
            service_name: Some("路灯"),
        };
        let page = progress(&site(), &input, Some(&found), None);
        assert!(
            page.contains("<dd id=\"status\">办理中 <span lang=\"en\">In progress</span></dd>")
        );
        assert!(page.contains("&lt;i&gt;Inspector&lt;/i&gt; on the way"));
        assert!(!page.contains("internal"), "supervision is internal");
        assert_eq!(page.matches("<li><time").count(), 2);
        assert!(!page.contains("8000"), "the last 4 digits are not echoed");
        every_input_is_labelled(&page);
        ticket.confidential = true;
        let found = Progress {
            ticket: &ticket,
            history: &history,
            service_name: None,
        };
        let page = progress(&site(), &input, Some(&found), None);
        assert!(
            !page.contains("Inspector"),
            "confidential notes stay hidden"
        );
    }

    #[test]
    fn error_pages_say_what_happened() {
        let page = error_page(
            &site(),
            &WebError::TooManyAttempts {
                retry_after_secs: 61,
            },
            "/progress",
        );
        assert!(page.contains("请 2 分钟后再试"));
        assert!(page.contains("role=\"alert\""));
    }
}
