//! The page's Content-Security-Policy, written into `dist/index.html` as a
//! `<meta>` element so it holds on any static host, headers or not.
//!
//! The page may load scripts, styles, images, workers and data only from
//! its own origin; WebAssembly may be compiled ('wasm-unsafe-eval'); the
//! one inline script trunk writes (the module that starts the app) is
//! allowed by its sha256, and no other inline script or style runs. Nothing
//! can be sent to another origin: not by fetch, not by a form, not by an
//! image.

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

/// Everything but scripts: the page's own origin, or nothing.
const POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; worker-src 'self'; manifest-src 'self'; base-uri 'none'; \
     form-action 'none'; object-src 'none'";

/// `html` with the policy inserted after its `<meta charset>` (before any
/// script), allowing each inline `<script>` in it by hash.
pub fn with_csp(html: &str) -> Result<String> {
    if html.contains("Content-Security-Policy") {
        bail!("index.html already has a Content-Security-Policy");
    }
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find("<script") {
        let tag_end = open + rest[open..].find('>').unwrap_or(rest.len() - open);
        let tag = &rest[open..tag_end];
        let body_start = (tag_end + 1).min(rest.len());
        let Some(close) = rest[body_start..].find("</script>") else {
            bail!("index.html has a <script> without </script>");
        };
        if !tag.contains(" src=") {
            let body = &rest[body_start..body_start + close];
            hashes.push(format!(
                "'sha256-{}'",
                base64(&Sha256::digest(body.as_bytes()))
            ));
        }
        rest = &rest[body_start + close..];
    }
    let policy = format!(
        "script-src 'self' 'wasm-unsafe-eval'{}{}; {POLICY}",
        if hashes.is_empty() { "" } else { " " },
        hashes.join(" ")
    );
    let meta = format!(r#"<meta http-equiv="Content-Security-Policy" content="{policy}" />"#);
    let Some(charset) = html.find("<meta charset") else {
        bail!("index.html has no <meta charset> to put the policy after");
    };
    let at = charset + html[charset..].find('>').map_or(0, |i| i + 1);
    Ok(format!("{}\n    {meta}{}", &html[..at], &html[at..]))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
        // The CSP spec's own example: sha256 of the empty string.
        assert_eq!(
            base64(&Sha256::digest(b"")),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_are_not() {
        let html = "<html><head><meta charset=\"utf-8\" />\n<script type=\"module\">\nimport init from '/app.js';\n</script>\
                    <script src=\"/x.js\"></script></head></html>";
        let out = with_csp(html).unwrap();
        let meta_at = out.find("Content-Security-Policy").unwrap();
        assert!(
            meta_at < out.find("<script").unwrap(),
            "the policy must come before scripts"
        );
        let hash = base64(&Sha256::digest(b"\nimport init from '/app.js';\n"));
        assert!(
            out.contains(&format!(
                "script-src 'self' 'wasm-unsafe-eval' 'sha256-{hash}';"
            )),
            "{out}"
        );
        assert_eq!(out.matches("'sha256-").count(), 1, "{out}");
        assert!(out.contains("connect-src 'self'") && out.contains("default-src 'none'"));
        assert!(with_csp(&out).is_err(), "a second policy must not be added");
        assert!(with_csp("<script>x").is_err());
    }
}
