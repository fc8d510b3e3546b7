//! The web UI: the files of `ui/assets`, embedded at compile time and served at `/` (the
//! page) and `/assets/...`, every response with the security headers (a strict
//! Content-Security-Policy: scripts, styles and connections from this origin only, no inline
//! script, no `eval`, no framing). A path is looked up as a whole in the embedded set, so
//! nothing outside it can be reached (`..` and encoded slashes name no file).

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

fn file(path: &str) -> Response {
    let mut headers = security_headers();
    match ASSETS.get_file(path) {
        Some(file) if !path.contains("..") => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(path)),
            );
            // The page is small and names the assets; revalidate so an upgrade shows at once.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            (StatusCode::OK, headers, file.contents()).into_response()
        }
        _ => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            (StatusCode::NOT_FOUND, headers, "not found").into_response()
        }
    }
}

/// `GET /`: the page.
pub(crate) async fn index() -> Response {
    file("index.html")
}

/// `GET /assets/{*path}`: a script, style sheet or image of the page.
pub(crate) async fn asset(Path(path): Path<String>) -> Response {
    file(&path)
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
