//! Photos a citizen attaches: checked by their first bytes, kept in Postgres (schema
//! `attachments`), never in Redis and never served to the public.
//!
//! The declared content type is the browser's guess from the file name; what the bytes are is
//! what counts, and both must agree on one of JPEG, PNG or WebP.

use anyhow::Context as _;
use bytes::Bytes;
use hotline_domain::TicketNo;
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

pub const SCHEMA: &str = "attachments";
/// Photos per request.
pub const MAX_PHOTOS: usize = 3;
/// Bytes per photo: a phone's full-size JPEG is 2-4 MiB.
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;
/// Longest file name kept (characters).
const MAX_NAME: usize = 100;

/// The image formats taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    Webp,
}

impl ImageKind {
    /// What the bytes are, by their signature.
    pub fn sniff(bytes: &[u8]) -> Option<ImageKind> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageKind::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageKind::Png)
        } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Some(ImageKind::Webp)
        } else {
            None
        }
    }

    /// A declared content type (parameters and case ignored).
    pub fn declared(content_type: &str) -> Option<ImageKind> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(ImageKind::Jpeg),
            "image/png" => Some(ImageKind::Png),
            "image/webp" => Some(ImageKind::Webp),
            _ => None,
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Webp => "image/webp",
        }
    }
}

/// Why a photo was refused. `position` counts from 1, as the citizen sees the files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    #[error("at most {MAX_PHOTOS} photos")]
    TooMany,
    #[error("photo {position} is larger than {MAX_PHOTO_BYTES} bytes")]
    TooLarge { position: usize },
    #[error("photo {position} is not a JPEG, PNG or WebP image")]
    NotAnImage { position: usize },
}

/// One checked photo.
#[derive(Clone, PartialEq, Eq)]
pub struct Photo {
    pub name: String,
    pub kind: ImageKind,
    pub bytes: Bytes,
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The name may be personal ("张三身份证.jpg"); the bytes are the photo.
        f.debug_struct("Photo")
            .field("kind", &self.kind)
            .field("size", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

impl Photo {
    /// Checks the `position`th file: a size within the limit, a declared type we take, and
    /// bytes that are that type.
    pub fn parse(
        position: usize,
        file_name: Option<&str>,
        content_type: Option<&str>,
        bytes: Bytes,
    ) -> Result<Photo, PhotoError> {
        if bytes.len() > MAX_PHOTO_BYTES {
            return Err(PhotoError::TooLarge { position });
        }
        let declared = content_type.and_then(ImageKind::declared);
        let kind = match (declared, ImageKind::sniff(&bytes)) {
            (Some(declared), Some(actual)) if declared == actual => actual,
            _ => return Err(PhotoError::NotAnImage { position }),
        };
        let sha256 = Sha256::digest(&bytes).into();
        Ok(Photo {
            name: clean_name(position, file_name),
            kind,
            bytes,
            sha256,
        })
    }
}

/// The last path segment of what the browser sent, without characters the text rule refuses,
/// at most [`MAX_NAME`] characters; `photo-N` when nothing is left.
fn clean_name(position: usize, raw: Option<&str>) -> String {
    let base = raw
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let name: String = base
        .chars()
        .filter(|c| hotline_domain::text::is_allowed(*c) && !c.is_control())
        .take(MAX_NAME)
        .collect();
    let name = name.trim();
    if name.is_empty() {
        format!("photo-{position}")
    } else {
        name.to_owned()
    }
}

/// A photo as stored, for the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPhoto {
    pub position: i16,
    pub name: String,
    pub size: i32,
}

/// `attachments.photo` in Postgres.
#[derive(Clone)]
pub struct PhotoStore {
    pool: PgPool,
}

/// Runs the migrations of schema `attachments` on `pool` (idempotent).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    hotline_bus::db::migrate(pool, sqlx::migrate!("./migrations/attachments"), SCHEMA).await
}

impl PhotoStore {
    pub fn new(pool: PgPool) -> PhotoStore {
        PhotoStore { pool }
    }

    /// Stores `photos` for the ticket a form submission made and answers what the submission
    /// holds. `submission` is the form's idempotency key: a form sent twice stores its photos
    /// once (the first sending's).
    pub async fn save(
        &self,
        ticket_no: TicketNo,
        submission: &str,
        photos: &[Photo],
    ) -> anyhow::Result<Vec<StoredPhoto>> {
        let ticket = i64::try_from(ticket_no.as_u64()).context("a ticket number fits i64")?;
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        for (i, photo) in photos.iter().enumerate() {
            let position = i16::try_from(i + 1).context("a photo position")?;
            let size = i32::try_from(photo.bytes.len()).context("a photo size")?;
            sqlx::query(
                "INSERT INTO attachments.photo \
                 (id, ticket_no, submission, position, file_name, content_type, size_bytes, \
                  sha256, data) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (submission, position) DO NOTHING",
            )
            .bind(Uuid::now_v7())
            .bind(ticket)
            .bind(submission)
            .bind(position)
            .bind(&photo.name)
            .bind(photo.kind.mime())
            .bind(size)
            .bind(&photo.sha256[..])
            .bind(&photo.bytes[..])
            .execute(&mut *tx)
            .await
            .context("storing a photo")?;
        }
        let stored = sqlx::query_as::<_, (i16, String, i32)>(
            "SELECT position, file_name, size_bytes FROM attachments.photo \
             WHERE submission = $1 ORDER BY position",
        )
        .bind(submission)
        .fetch_all(&mut *tx)
        .await
        .context("reading the stored photos")?;
        tx.commit().await.context("committing the photos")?;
        Ok(stored
            .into_iter()
            .map(|(position, name, size)| StoredPhoto {
                position,
                name,
                size,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real 2×2 RGB PNG.
    pub const TINY_PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd,
        0xd4, 0x9a, 0x73, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8,
        0xcf, 0xc0, 0xc0, 0x00, 0xc2, 0x20, 0xe2, 0x3f, 0x00, 0x1a, 0xf3, 0x03, 0xfd, 0x42, 0x27,
        0x4b, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn signatures_name_the_format() {
        assert_eq!(ImageKind::sniff(TINY_PNG), Some(ImageKind::Png));
        assert_eq!(
            ImageKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(ImageKind::Jpeg)
        );
        assert_eq!(
            ImageKind::sniff(b"RIFF\x24\0\0\0WEBPVP8 "),
            Some(ImageKind::Webp)
        );
        assert_eq!(ImageKind::sniff(b"RIFF\x24\0\0\0WAVEfmt "), None, "a WAV");
        assert_eq!(ImageKind::sniff(b"GIF89a"), None);
        assert_eq!(ImageKind::sniff(b"<svg xmlns="), None);
        assert_eq!(ImageKind::sniff(b""), None);
        assert_eq!(
            ImageKind::declared("Image/PNG; charset=binary"),
            Some(ImageKind::Png)
        );
        assert_eq!(ImageKind::declared("image/svg+xml"), None);
    }

    #[test]
    fn a_photo_is_what_its_bytes_say_and_what_it_declares() {
        let png = Photo::parse(
            1,
            Some("C:\\Users\\li\\路灯.png"),
            Some("image/png"),
            Bytes::from_static(TINY_PNG),
        )
        .expect("a PNG");
        assert_eq!(png.kind, ImageKind::Png);
        assert_eq!(png.name, "路灯.png", "the path is not kept");
        assert_eq!(
            hex::encode(png.sha256),
            hex::encode(Sha256::digest(TINY_PNG))
        );
        // An HTML file renamed .png: the declared type is right, the bytes are not.
        assert_eq!(
            Photo::parse(
                2,
                Some("x.png"),
                Some("image/png"),
                Bytes::from_static(b"<html><script>")
            ),
            Err(PhotoError::NotAnImage { position: 2 })
        );
        // A PNG declared as something else is refused too: the two must agree.
        assert_eq!(
            Photo::parse(
                1,
                Some("x.jpg"),
                Some("image/jpeg"),
                Bytes::from_static(TINY_PNG)
            ),
            Err(PhotoError::NotAnImage { position: 1 })
        );
        assert_eq!(
            Photo::parse(1, None, None, Bytes::from_static(TINY_PNG)),
            Err(PhotoError::NotAnImage { position: 1 })
        );
        let big = vec![0xFF; MAX_PHOTO_BYTES + 1];
        assert_eq!(
            Photo::parse(3, None, Some("image/jpeg"), Bytes::from(big)),
            Err(PhotoError::TooLarge { position: 3 })
        );
    }

    #[test]
    fn names_lose_paths_and_controls_and_have_a_fallback() {
        assert_eq!(clean_name(1, Some("/tmp/a\u{0}b.png")), "ab.png");
        assert_eq!(clean_name(2, Some("   ")), "photo-2");
        assert_eq!(clean_name(3, None), "photo-3");
        assert_eq!(
            clean_name(1, Some(&"长".repeat(300))).chars().count(),
            MAX_NAME
        );
    }
}
