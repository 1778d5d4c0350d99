//! The anchor's CreateSession request checks: Authorization header, X.509 headers, query and
//! body. Input: first line `METHOD PATH?QUERY`, then `name: value` lines, a blank line, the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::rolesanywhere::verify::{verify, ReceivedRequest};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let start = lines.next().unwrap_or_default();
    let (method, target) = start.split_once(' ').unwrap_or(("POST", start));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let _ = verify(&ReceivedRequest {
        method,
        path,
        query,
        headers: &headers,
        body: body.as_bytes(),
    });
});
