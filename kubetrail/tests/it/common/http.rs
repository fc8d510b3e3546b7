//! A small blocking HTTP/1.1 client for the end-to-end tests (no client library in the
//! dependency tree): one request per connection, chunked bodies decoded, and a reader for
//! server-sent events.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// A response: status, lower-cased headers, body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

fn send(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> TcpStream {
    let mut stream = TcpStream::connect(address).expect("connect to the API");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    if let Some(body) = body {
        stream.write_all(body).unwrap();
    }
    stream
}

fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((key, value)) = trimmed.split_once(':') {
            headers.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    (status, headers)
}

/// One request; the whole response.
pub fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> Response {
    let stream = send(address, method, path, token, body);
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader);
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            let mut chunk = vec![0u8; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut body).unwrap();
    }
    Response {
        status,
        headers,
        body,
    }
}

pub fn get(address: SocketAddr, path: &str, token: Option<&str>) -> Response {
    request(address, "GET", path, token, None)
}

pub fn post_json(
    address: SocketAddr,
    path: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> Response {
    request(
        address,
        "POST",
        path,
        token,
        Some(body.to_string().as_bytes()),
    )
}

/// Opens a server-sent-events stream and returns `(event, data)` pairs until `stop` says so or
/// `timeout` passes.
pub fn sse(
    address: SocketAddr,
    path: &str,
    token: &str,
    timeout: Duration,
    mut stop: impl FnMut(&str, &str) -> bool,
) -> (u16, Vec<(String, String)>) {
    let stream = send(address, "GET", path, Some(token), None);
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let (status, _) = read_head(&mut reader);
    let mut seen = Vec::new();
    if status != 200 {
        return (status, seen);
    }
    let deadline = Instant::now() + timeout;
    let (mut event, mut data) = (String::new(), String::new());
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => continue,
        }
        let text = line.trim_end();
        if let Some(value) = text.strip_prefix("event:") {
            event = value.trim().to_owned();
        } else if let Some(value) = text.strip_prefix("data:") {
            data = value.trim().to_owned();
        } else if text.is_empty() && !data.is_empty() {
            let done = stop(&event, &data);
            seen.push((std::mem::take(&mut event), std::mem::take(&mut data)));
            if done {
                break;
            }
        }
    }
    (status, seen)
}

/// Checks `value` against a JSON schema of the OpenAPI document (the subset it uses:
/// `$ref`, `type` (one or several), `properties`, `required`, `items`,
/// `additionalProperties`, `allOf`, `oneOf`, `enum`). Returns the first mismatch.
pub fn validate(
    document: &serde_json::Value,
    schema: &serde_json::Value,
    value: &serde_json::Value,
    path: &str,
) -> Result<(), String> {
    if let Some(reference) = schema.get("$ref").and_then(|r| r.as_str()) {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = &document["components"]["schemas"][name];
        assert!(!target.is_null(), "unknown $ref {reference}");
        return validate(document, target, value, path);
    }
    if let Some(all) = schema.get("allOf").and_then(|a| a.as_array()) {
        for part in all {
            validate(document, part, value, path)?;
        }
    }
    if let Some(options) = schema.get("oneOf").and_then(|o| o.as_array()) {
        return if options
            .iter()
            .any(|option| validate(document, option, value, path).is_ok())
        {
            Ok(())
        } else {
            Err(format!("{path}: matches no oneOf option: {value}"))
        };
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            serde_json::Value::String(t) => vec![t.as_str()],
            serde_json::Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).collect(),
            _ => Vec::new(),
        };
        let actual = match value {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "boolean",
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            serde_json::Value::Number(_) => "number",
            serde_json::Value::String(_) => "string",
            serde_json::Value::Array(_) => "array",
            serde_json::Value::Object(_) => "object",
        };
        let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !ok {
            return Err(format!("{path}: expected {types:?}, got {actual}: {value}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(|e| e.as_array())
        && !allowed.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {allowed:?}"));
    }
    if let serde_json::Value::Object(object) = value {
        if let Some(required) = schema.get("required").and_then(|r| r.as_array()) {
            for key in required.iter().filter_map(|k| k.as_str()) {
                if !object.contains_key(key) {
                    return Err(format!("{path}: missing required {key}"));
                }
            }
        }
        let properties = schema.get("properties").and_then(|p| p.as_object());
        for (key, item) in object {
            let sub = format!("{path}.{key}");
            match properties.and_then(|p| p.get(key)) {
                Some(property) => validate(document, property, item, &sub)?,
                None => match schema.get("additionalProperties") {
                    Some(serde_json::Value::Bool(false)) => {
                        return Err(format!("{path}: unexpected property {key}"));
                    }
                    Some(extra @ serde_json::Value::Object(_)) => {
                        validate(document, extra, item, &sub)?
                    }
                    _ => {}
                },
            }
        }
    }
    if let (serde_json::Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            validate(document, item_schema, item, &format!("{path}[{index}]"))?;
        }
    }
    Ok(())
}

/// Validates a response against the document's schema for `route` / `method` / its status.
pub fn check_response(
    document: &serde_json::Value,
    route: &str,
    method: &str,
    response: &Response,
) {
    let schema = &document["paths"][route][method]["responses"][response.status.to_string()]["content"]
        ["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "OpenAPI has no JSON response {} for {method} {route}",
        response.status
    );
    if let Err(error) = validate(document, schema, &response.json(), "$") {
        panic!("{method} {route} ({}): {error}", response.status);
    }
}

/// A `kubetrail serve` child, killed when dropped.
pub struct Server {
    pub child: Child,
    pub address: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Stops it with SIGTERM and asserts that it exited cleanly.
    pub fn stop(mut self, log: &Path) {
        super::stop(&mut self.child, log);
    }
}

/// Starts serve and reads the API address from its log.
pub fn start(config: &Path, log: &Path) -> Server {
    started(super::start_serve(config, log), log)
}

/// `serve` started as `child` (writing its log to `log`), once it listens.
pub fn started(child: Child, log: &Path) -> Server {
    // Owned by `Server` from the start, so a failed wait below still kills it.
    let mut server = Server {
        child,
        address: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .rev()
            .find(|l| l.contains("query API listening on http"))
        {
            server.address = line
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .and_then(|a| a.parse().ok())
                .expect("address in the log line");
            return server;
        }
        assert!(Instant::now() < deadline, "serve did not start: {text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `serve` is ready (`/readyz`): its pipeline opened, its sources started. The
/// API listens, and takes pushed events, before that, so `started` returns earlier.
pub fn wait_ready(address: SocketAddr) {
    wait_ready_with(|| get(address, "/readyz", None).status);
}

/// [`wait_ready`] through any client: `readyz` asks `/readyz` and gives the status.
pub fn wait_ready_with(mut readyz: impl FnMut() -> u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while readyz() != 200 {
        assert!(Instant::now() < deadline, "serve never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One POST with extra headers that never panics: `None` when the connection fails or the
/// answer is cut off (the server was killed).
pub fn try_post(
    address: SocketAddr,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Response> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((key, value)) = trimmed.split_once(':') {
            headers.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(key, _)| key == "content-length")
        .and_then(|(_, value)| value.parse().ok())?;
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(Response {
        status,
        headers,
        body,
    })
}
