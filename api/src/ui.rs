//! The web UI: the files of `ui/assets`, embedded at compile time and served at `/` (the
//! page) and `/assets/...`, every response with the security headers (a strict
//! Content-Security-Policy: scripts, styles and connections from this origin only, no inline
//! script, no `eval`, no framing). A path is looked up as a whole in the embedded set, so
//! nothing outside it can be reached (`..` and encoded slashes name no file).
//!
//! The page names its assets under `/assets/v-<digest>/`, the digest of the whole embedded
//! set: those responses are cached for good (`immutable`), so a page opened again costs one
//! request (the page, revalidated) and a new build is fetched at once. The page also lists
//! every module (`modulepreload`), so the browser fetches them at once instead of one import
//! level after the other. Unversioned paths stay served, revalidated.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};

static ASSETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../ui/assets");

/// The Content-Security-Policy of every UI response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The headers of every UI response.
fn security_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut set = |name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    );
    headers
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

/// The prefix of the current build's asset paths: `v-` and the first 16 hex digits of the
/// SHA-256 of every embedded file's path and contents.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    for path in asset_paths() {
        let contents = ASSETS
            .get_file(&path)
            .map_or(&[][..], include_dir::File::contents);
        digest.update(path.as_bytes());
        digest.update(&(contents.len() as u64).to_le_bytes());
        digest.update(contents);
    }
    let hex: String = digest
        .finish()
        .as_ref()
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("v-{hex}")
});

/// `index.html` naming the assets under the current version, with a `modulepreload` link for
/// every module.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    let page = ASSETS
        .get_file("index.html")
        .and_then(include_dir::File::contents_utf8)
        .unwrap_or_default();
    let versioned = format!("/assets/{}/", *VERSION);
    let preloads: String = asset_paths()
        .iter()
        .filter(|path| path.ends_with(".js") || path.ends_with(".mjs"))
        .map(|path| format!("  <link rel=\"modulepreload\" href=\"{versioned}{path}\">\n"))
        .collect();
    page.replace("/assets/", &versioned)
        .replacen("</head>", &format!("{preloads}</head>"), 1)
});

fn not_found(mut headers: HeaderMap) -> Response {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    (StatusCode::NOT_FOUND, headers, "not found").into_response()
}

/// An embedded file; `immutable` when it was asked for under the current version.
fn file(path: &str, immutable: bool) -> Response {
    let mut headers = security_headers();
    match ASSETS.get_file(path) {
        Some(file) if !path.contains("..") => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(path)),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(if immutable {
                    "public, max-age=31536000, immutable"
                } else {
                    "no-cache"
                }),
            );
            (StatusCode::OK, headers, file.contents()).into_response()
        }
        _ => not_found(headers),
    }
}

/// `GET /`: the page (small, and it names the current assets: revalidated every time).
pub(crate) async fn index() -> Response {
    let mut headers = security_headers();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type("index.html")),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    (StatusCode::OK, headers, PAGE.as_str()).into_response()
}

/// `GET /assets/{*path}`: a script, style sheet or image of the page, under a version
/// (`v-…/`) or not. An older version's path gets the current file, revalidated.
pub(crate) async fn asset(Path(path): Path<String>) -> Response {
    match path.split_once('/') {
        Some((version, rest)) if version.starts_with("v-") => {
            file(rest, version == VERSION.as_str())
        }
        _ => file(&path, false),
    }
}

/// The page as served, for tests.
pub fn page() -> &'static str {
    PAGE.as_str()
}

/// The embedded files' paths, for tests.
pub fn asset_paths() -> Vec<String> {
    fn walk(dir: &Dir<'static>, out: &mut Vec<String>) {
        for entry in dir.entries() {
            match entry {
                include_dir::DirEntry::Dir(dir) => walk(dir, out),
                include_dir::DirEntry::File(file) => {
                    out.push(file.path().to_string_lossy().into_owned());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&ASSETS, &mut out);
    out.sort();
    out
}
