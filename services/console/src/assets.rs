//! The console's static files, embedded in the binary: htmx (vendored, pinned, checksummed:
//! assets/README.md) and the one stylesheet. Their URLs carry a digest of their bytes, so they
//! are cached for a year and a new build's files are new URLs.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use sha2::{Digest as _, Sha256};

/// htmx 2.0.11 (npm `htmx.org`, `dist/htmx.min.js`).
pub const HTMX: &[u8] = include_bytes!("../assets/htmx.min.js");
/// The sha256 assets/README.md gives for [`HTMX`].
pub const HTMX_SHA256: &str = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717";
/// htmx's server-sent-events extension 2.2.4 (npm `htmx-ext-sse`, `dist/sse.min.js`): the agent
/// desk's live calls.
pub const HTMX_SSE: &[u8] = include_bytes!("../assets/htmx-ext-sse.min.js");
/// The sha256 assets/README.md gives for [`HTMX_SSE`].
pub const HTMX_SSE_SHA256: &str =
    "98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136";
/// Apache ECharts 5.6.0 (npm `echarts`, `dist/echarts.min.js`): the 社情民意 map.
pub const ECHARTS: &[u8] = include_bytes!("../assets/echarts.min.js");
/// The sha256 assets/README.md gives for [`ECHARTS`].
pub const ECHARTS_SHA256: &str = "bf4a223524e40b77c304bec67e1222cf551f14880cf42c69dc046558e11c07b1";
/// The map's loader and ECharts' set-up (ours), pinned too: the CSP allows any script of this
/// origin, so a changed file must be a reviewed change of this digest and the README's.
pub const HOTSPOTS_JS: &[u8] = include_bytes!("../assets/hotspots.js");
pub const HOTSPOTS_JS_SHA256: &str =
    "2d301ce14b3ef8236588e162c3bd2240c32f6678308d814e386f82b32cecfe3b";
/// Guangzhou's eleven districts as simplified polygons (drawn here, not surveyed borders).
pub const DISTRICTS_GEOJSON: &[u8] = include_bytes!("../assets/guangzhou-districts.geojson");
pub const CSS: &[u8] = include_bytes!("../assets/console.css");
/// The tab's icon (the citizen web page's): linked from every page, so browsers do not ask for
/// a `/favicon.ico`.
pub const ICON: &[u8] = include_bytes!("../assets/icon.svg");

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// The first 12 hex digits of the sha256: the `?v=` of the URL.
    version: String,
}

static ASSETS: LazyLock<[Asset; 7]> = LazyLock::new(|| {
    let asset = |name, content_type, bytes: &'static [u8]| Asset {
        name,
        content_type,
        bytes,
        version: hex::encode(Sha256::digest(bytes))[..12].to_owned(),
    };
    [
        asset("htmx.min.js", "text/javascript; charset=utf-8", HTMX),
        asset(
            "htmx-ext-sse.min.js",
            "text/javascript; charset=utf-8",
            HTMX_SSE,
        ),
        asset("console.css", "text/css; charset=utf-8", CSS),
        asset("icon.svg", "image/svg+xml", ICON),
        asset("echarts.min.js", "text/javascript; charset=utf-8", ECHARTS),
        asset("hotspots.js", "text/javascript; charset=utf-8", HOTSPOTS_JS),
        asset(
            "guangzhou-districts.geojson",
            "application/geo+json",
            DISTRICTS_GEOJSON,
        ),
    ]
});

/// The URL of an embedded file, with its version; `/assets/<name>` when there is no such file.
pub fn url(name: &str) -> String {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => format!("/assets/{}?v={}", a.name, a.version),
        None => format!("/assets/{name}"),
    }
}

/// `GET /assets/{name}`: the file, cached for a year (its URL changes with its bytes).
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_echarts_and_the_map_loader_are_the_pinned_files() {
        let readme = include_str!("../assets/README.md");
        for (bytes, digest) in [(ECHARTS, ECHARTS_SHA256), (HOTSPOTS_JS, HOTSPOTS_JS_SHA256)] {
            assert_eq!(hex::encode(Sha256::digest(bytes)), digest);
            assert!(readme.contains(digest), "assets/README.md names {digest}");
        }
        assert!(readme.contains("`echarts` 5.6.0"));
        let text = std::str::from_utf8(ECHARTS).expect("utf-8");
        assert!(text.contains("version=\"5.6.0\""));
        // The districts parse and are the directory's eleven.
        let geo: serde_json::Value = serde_json::from_slice(DISTRICTS_GEOJSON).expect("json");
        let names: Vec<&str> = geo["features"]
            .as_array()
            .expect("features")
            .iter()
            .filter_map(|f| f["properties"]["name"].as_str())
            .collect();
        let directory = hotline_domain::Directory::demo();
        let districts: Vec<&str> = directory.districts().map(|d| d.code.as_str()).collect();
        assert_eq!(names.len(), 11);
        for d in districts {
            assert!(names.contains(&d), "{d} has a shape");
        }
    }

    #[test]
    fn the_vendored_htmx_is_the_pinned_file() {
        assert_eq!(hex::encode(Sha256::digest(HTMX)), HTMX_SHA256);
        let readme = include_str!("../assets/README.md");
        assert!(
            readme.contains(HTMX_SHA256) && readme.contains("htmx.org` 2.0.11"),
            "assets/README.md names the file's package, version and sha256"
        );
        // The version htmx reports is the one pinned.
        let text = std::str::from_utf8(HTMX).expect("utf-8");
        assert!(text.contains("version:\"2.0.11\""));
    }

    #[test]
    fn the_vendored_sse_extension_is_the_pinned_file() {
        assert_eq!(hex::encode(Sha256::digest(HTMX_SSE)), HTMX_SSE_SHA256);
        let readme = include_str!("../assets/README.md");
        assert!(
            readme.contains(HTMX_SSE_SHA256) && readme.contains("htmx-ext-sse` 2.2.4"),
            "assets/README.md names the file's package, version and sha256"
        );
        // It is the extension htmx loads as `sse`.
        let text = std::str::from_utf8(HTMX_SSE).expect("utf-8");
        assert!(text.contains("htmx.defineExtension(\"sse\""));
        assert!(url("htmx-ext-sse.min.js").ends_with(&HTMX_SSE_SHA256[..12]));
    }

    #[test]
    fn urls_carry_the_content_digest() {
        let u = url("htmx.min.js");
        assert_eq!(u, format!("/assets/htmx.min.js?v={}", &HTMX_SHA256[..12]));
        assert!(url("console.css").starts_with("/assets/console.css?v="));
    }

    #[tokio::test]
    async fn files_are_served_immutable_and_unknown_ones_are_404() {
        let r = serve(Path("htmx.min.js".to_owned())).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .is_ok_and(|t| t.starts_with("text/javascript"))
        );
        let r = serve(Path("../Cargo.toml".to_owned())).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}
