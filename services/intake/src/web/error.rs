//! What the page can fail with, the one mapping to HTTP statuses, and the words a citizen
//! reads (Chinese first, then English), with the form field each error belongs next to.

use axum::http::StatusCode;
use hotline_domain::contract::ErrorKind;

use super::photo::{MAX_PHOTO_BYTES, MAX_PHOTOS, PhotoError};
use crate::error::{Open311Error, Rejection, http_status};

/// The form could not be read as a form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the body is not a multipart/form-data form")]
    NotMultipart,
    #[error("the form could not be read")]
    Unreadable,
    #[error("the form is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("a form field is too long")]
    FieldTooLong,
    #[error("the form has too many fields")]
    TooManyFields,
    /// No token, one we did not issue, one issued to another browser, or one that expired.
    #[error("the form has expired")]
    Expired,
}

/// The lookup form's fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("the ticket number is not valid")]
    TicketNo,
    #[error("the last 4 digits must be 4 digits")]
    LastFour,
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The shared Open311 rules refused the request (text rule, location, phone, ...).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Photo(#[from] PhotoError),
    #[error(transparent)]
    Form(#[from] FormError),
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// Unknown ticket, or a last 4 that does not match: one answer for both.
    #[error("no ticket with this number and phone ending")]
    NotFound,
    #[error("too many attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    /// Every upload slot is taken (memory is bounded by them).
    #[error("too many uploads at once")]
    Busy,
    /// Redis or Postgres did not answer.
    #[error("a store is unavailable")]
    StoreUnavailable(#[source] anyhow::Error),
    /// The ledger, the catalogue or the number issuer (Open311's own errors).
    #[error(transparent)]
    Upstream(Open311Error),
}

impl From<Open311Error> for WebError {
    fn from(e: Open311Error) -> WebError {
        match e {
            Open311Error::Rejected(r) => WebError::Rejected(r),
            other => WebError::Upstream(other),
        }
    }
}

/// The form fields errors are shown next to (their element ids).
pub mod field {
    pub const CATEGORY: &str = "category";
    pub const DESCRIPTION: &str = "description";
    pub const ADDRESS: &str = "address";
    pub const NAME: &str = "name";
    pub const PHONE: &str = "phone";
    pub const CONFIDENTIAL: &str = "confidential";
    pub const PHOTOS: &str = "photos";
    pub const TICKET_NO: &str = "ticket_no";
    pub const LAST4: &str = "last4";
}

impl WebError {
    /// The one mapping to HTTP.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::Rejected(_) | WebError::Photo(_) | WebError::Lookup(_) => {
                StatusCode::BAD_REQUEST
            }
            WebError::Form(FormError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Form(FormError::Expired) => StatusCode::FORBIDDEN,
            WebError::Form(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::Busy | WebError::StoreUnavailable(_) => http_status(ErrorKind::Unavailable),
            WebError::Upstream(e) => e.status(),
        }
    }

    /// The form field (element id) the error is about; `None`: about the whole page.
    pub fn field(&self) -> Option<String> {
        let open311 = |name: &str| -> Option<String> {
            if let Some(code) = name
                .strip_prefix("attribute[")
                .and_then(|r| r.strip_suffix(']'))
            {
                return Some(attribute_id(code));
            }
            let id = match name {
                "service_code" => field::CATEGORY,
                "description" => field::DESCRIPTION,
                "address_string" => field::ADDRESS,
                "first_name" => field::NAME,
                "phone" => field::PHONE,
                "confidential" => field::CONFIDENTIAL,
                _ => return None,
            };
            Some(id.to_owned())
        };
        match self {
            WebError::Rejected(r) => match r {
                Rejection::ControlCharacter { field, .. } | Rejection::Repeated(field) => {
                    open311(field)
                }
                Rejection::TooLong { field, .. } => open311(field),
                Rejection::MissingServiceCode
                | Rejection::UnknownService
                | Rejection::ServiceCodeFormat(_) => Some(field::CATEGORY.to_owned()),
                Rejection::MissingLocation => Some(field::ADDRESS.to_owned()),
                Rejection::Phone => Some(field::PHONE.to_owned()),
                Rejection::DescriptionTooLong { .. } => Some(field::DESCRIPTION.to_owned()),
                Rejection::Confidential => Some(field::CONFIDENTIAL.to_owned()),
                Rejection::MissingAttribute(code)
                | Rejection::AttributeNotListed(code)
                | Rejection::AttributeSingle(code)
                | Rejection::AttributeNumber(code)
                | Rejection::AttributeDatetime(code)
                | Rejection::AttributeTooLong { code, .. } => Some(attribute_id(code)),
                _ => None,
            },
            WebError::Photo(_) => Some(field::PHOTOS.to_owned()),
            WebError::Lookup(LookupError::TicketNo) => Some(field::TICKET_NO.to_owned()),
            WebError::Lookup(LookupError::LastFour) => Some(field::LAST4.to_owned()),
            _ => None,
        }
    }

    /// What the citizen reads. Never personal data, never internals.
    pub fn message(&self) -> String {
        match self {
            WebError::Rejected(r) => rejection_message(r),
            WebError::Photo(PhotoError::TooMany) => {
                format!("最多上传 {MAX_PHOTOS} 张照片。At most {MAX_PHOTOS} photos.")
            }
            WebError::Photo(PhotoError::TooLarge { position }) => format!(
                "第 {position} 张照片超过 {mib} MiB。Photo {position} is larger than {mib} MiB.",
                mib = MAX_PHOTO_BYTES / (1024 * 1024)
            ),
            WebError::Photo(PhotoError::NotAnImage { position }) => format!(
                "第 {position} 张照片不是 JPEG、PNG 或 WebP 图片。Photo {position} is not a JPEG, \
                 PNG or WebP image."
            ),
            WebError::Form(FormError::Expired) => {
                "表单已过期或已在其他页面打开，请检查后重新提交（照片需重新选择）。\
                 The form has expired; please check it and send it again (choose the photos \
                 again)."
                    .to_owned()
            }
            WebError::Form(FormError::TooLarge { limit }) => format!(
                "提交的内容太大（上限 {} MiB）。The form is larger than {} MiB.",
                limit / (1024 * 1024),
                limit / (1024 * 1024)
            ),
            WebError::Form(FormError::FieldTooLong) => {
                "某一栏内容太长。A field is too long.".to_owned()
            }
            WebError::Form(_) => {
                "无法读取提交的表单，请重试。The form could not be read; please try \
                 again."
                    .to_owned()
            }
            WebError::Lookup(LookupError::TicketNo) => {
                "工单编号应为 16 位数字，请核对。The ticket number is 16 digits; please check it."
                    .to_owned()
            }
            WebError::Lookup(LookupError::LastFour) => {
                "请输入手机号码的后 4 位数字。Enter the last 4 digits of your phone number."
                    .to_owned()
            }
            WebError::NotFound => "没有找到与该编号和手机尾号相符的工单。No ticket matches this \
                 number and phone ending."
                .to_owned(),
            WebError::TooManyAttempts { retry_after_secs } => {
                let minutes = retry_after_secs.div_ceil(60);
                format!(
                    "尝试次数过多，请 {minutes} 分钟后再试，或拨打 12345。Too many attempts; please \
                     try again in {minutes} minutes, or call 12345."
                )
            }
            WebError::Busy | WebError::StoreUnavailable(_) => {
                "系统繁忙，请稍后再试，或拨打 12345。The service is busy; please try again later, \
                 or call 12345."
                    .to_owned()
            }
            WebError::Upstream(e) => match e.status().as_u16() {
                500 => {
                    "系统出错，请稍后再试，或拨打 12345。Something went wrong; please try again \
                        later, or call 12345."
                        .to_owned()
                }
                503 => "系统暂时无法受理，请稍后再试，或拨打 12345。The service cannot take \
                        requests right now; please try again later, or call 12345."
                    .to_owned(),
                _ => e.description(),
            },
        }
    }
}

/// The id of an attribute's input (`attr-<code>`, the code made id-safe).
pub fn attribute_id(code: &str) -> String {
    let safe: String = code
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("attr-{safe}")
}

fn label_of(open311_field: &str) -> &'static str {
    match open311_field {
        "service_code" => "「诉求类别」 The category",
        "description" => "「问题描述」 The description",
        "address_string" => "「地址」 The address",
        "first_name" => "「姓名」 The name",
        "phone" => "「手机号码」 The phone number",
        _ => "该栏 This field",
    }
}

fn rejection_message(r: &Rejection) -> String {
    match r {
        Rejection::ControlCharacter { field, code } => format!(
            "{} 含有不允许的控制字符 (U+{code:04X})。{} contains a control character \
             (U+{code:04X}), which is not allowed.",
            label_of(field),
            label_of(field)
                .split_once(' ')
                .map_or("This field", |(_, en)| en)
        ),
        Rejection::MissingServiceCode | Rejection::ServiceCodeFormat(_) => {
            "请选择诉求类别。Choose a category.".to_owned()
        }
        Rejection::UnknownService => {
            "该类别已不再受理，请重新选择。This category is no longer offered; choose another."
                .to_owned()
        }
        Rejection::MissingLocation => {
            "请填写问题发生的地址。Enter the address where it happens.".to_owned()
        }
        Rejection::Phone => "手机号码格式不正确。The phone number is not valid.".to_owned(),
        Rejection::DescriptionTooLong { max } => format!(
            "问题描述不能超过 {max} 个字。The description may have at most {max} characters."
        ),
        Rejection::TooLong { field, max } => format!(
            "{} 不能超过 {max} 个字。{} may have at most {max} characters.",
            label_of(field),
            label_of(field)
                .split_once(' ')
                .map_or("This field", |(_, en)| en)
        ),
        Rejection::MissingAttribute(_) => "请回答这个问题。Please answer this question.".to_owned(),
        Rejection::NotUtf8 => "表单不是 UTF-8 编码。The form is not UTF-8 encoded.".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_bus::rpc::CallError;

    #[test]
    fn each_error_has_its_status() {
        let cases: Vec<(WebError, u16)> = vec![
            (Rejection::MissingLocation.into(), 400),
            (PhotoError::TooMany.into(), 400),
            (FormError::TooLarge { limit: 1 }.into(), 413),
            (FormError::Expired.into(), 403),
            (FormError::NotMultipart.into(), 400),
            (LookupError::LastFour.into(), 400),
            (WebError::NotFound, 404),
            (
                WebError::TooManyAttempts {
                    retry_after_secs: 5,
                },
                429,
            ),
            (WebError::Busy, 503),
            (
                Open311Error::Upstream(CallError::Unavailable("x".into())).into(),
                503,
            ),
            (Open311Error::Internal(anyhow::anyhow!("pg")).into(), 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
        }
    }

    #[test]
    fn open311_rejections_stay_rejections_and_land_next_to_their_field() {
        let e = WebError::from(Open311Error::from(Rejection::ControlCharacter {
            field: "description".into(),
            code: 0,
        }));
        assert!(matches!(e, WebError::Rejected(_)));
        assert_eq!(e.field().as_deref(), Some(field::DESCRIPTION));
        assert!(e.message().contains("U+0000"), "{}", e.message());
        assert!(e.message().contains("问题描述"), "{}", e.message());
        let e = WebError::from(Rejection::MissingAttribute("when".into()));
        assert_eq!(e.field().as_deref(), Some("attr-when"));
        assert_eq!(
            WebError::from(Rejection::TooLong {
                field: "address_string",
                max: 500
            })
            .field()
            .as_deref(),
            Some(field::ADDRESS)
        );
        assert_eq!(attribute_id("a b\"<"), "attr-a_b__");
    }

    #[test]
    fn internals_never_reach_the_page() {
        let e = WebError::from(Open311Error::Upstream(CallError::Decode(
            "missing field `seq` in tickets.cmd".into(),
        )));
        assert_eq!(e.status(), 500);
        assert!(!e.message().contains("seq"), "{}", e.message());
        let e = WebError::StoreUnavailable(anyhow::anyhow!("redis://secret@host"));
        assert!(!e.message().contains("redis"), "{}", e.message());
        assert_eq!(WebError::NotFound.field(), None);
    }
}
