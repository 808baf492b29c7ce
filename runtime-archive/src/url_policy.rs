//! What a download URL may be, and what of it may be written down.
//!
//! A mirror URL can carry credentials (`https://user:token@mirror/…`) or a signed query
//! (`…?X-Amz-Signature=…`): neither may reach a log file, an error screen or a support
//! request, so everything shown of a URL goes through [`redact`]. Runtimes and their indexes
//! come over https, or plain http from this computer only (tests, a local mirror): the
//! signatures are checked either way, but a network observer must not be able to watch or
//! withhold what the app downloads.

use url::Url;

/// `url` without its userinfo, query and fragment. Text that is not an absolute URL (a local
/// path) is returned unchanged.
pub fn redact(url: &str) -> String {
    let Ok(mut parsed) = Url::parse(url) else {
        return url.to_owned();
    };
    if parsed.cannot_be_a_base() {
        return url.to_owned();
    }
    let had_secrets =
        !parsed.username().is_empty() || parsed.password().is_some() || parsed.query().is_some();
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    parsed.set_query(None);
    parsed.set_fragment(None);
    let mut shown = parsed.to_string();
    if had_secrets {
        // Say that something was left out, so a support request does not chase a wrong URL.
        shown.push_str(" (credentials and query removed)");
    }
    shown
}

/// Every `http://` / `https://` URL inside `text` passed through [`redact`]; the rest of the
/// text is kept. For free-form messages (a chained error from the HTTP client, a log line).
pub fn redact_in_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_url_start(rest) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| {
                c.is_whitespace() || matches!(c, ')' | '(' | '`' | '"' | '\'' | '<' | '>')
            })
            .unwrap_or(tail.len());
        let candidate = &tail[..end];
        // A sentence's closing punctuation is not part of the URL.
        let trimmed = candidate.trim_end_matches(['.', ',', ';', ':']);
        out.push_str(&redact_bare(trimmed));
        out.push_str(&candidate[trimmed.len()..]);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn find_url_start(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    [lower.find("http://"), lower.find("https://")]
        .into_iter()
        .flatten()
        .min()
}

/// [`redact`] without the "removed" remark (inside a sentence it would read oddly).
fn redact_bare(url: &str) -> String {
    let shown = redact(url);
    shown
        .strip_suffix(" (credentials and query removed)")
        .map(str::to_owned)
        .unwrap_or(shown)
}

/// https anywhere; plain http only from a loopback address or `localhost`.
pub fn transport_allowed(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => is_loopback(url),
        _ => false,
    }
}

/// Whether `url`'s host is this machine: a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_queries_never_survive() {
        for (url, shown) in [
            (
                "https://user:s3cret@mirror.example/r/runtime-beta.json",
                "https://mirror.example/r/runtime-beta.json (credentials and query removed)",
            ),
            (
                "https://mirror.example/a.tar.zst?X-Amz-Signature=abc#frag",
                "https://mirror.example/a.tar.zst (credentials and query removed)",
            ),
            (
                "https://token@mirror.example/",
                "https://mirror.example/ (credentials and query removed)",
            ),
            (
                "http://127.0.0.1:8000/runtime-dev.json",
                "http://127.0.0.1:8000/runtime-dev.json",
            ),
            ("/home/me/mirror/a.tar.zst", "/home/me/mirror/a.tar.zst"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn urls_inside_sentences_are_redacted_and_the_sentence_kept() {
        let text = "error sending request for url (https://u:pw@h.example/x?sig=1): timed out. \
                    Also http://a:b@127.0.0.1:9/y.";
        let shown = redact_in_text(text);
        assert_eq!(
            shown,
            "error sending request for url (https://h.example/x): timed out. \
             Also http://127.0.0.1:9/y."
        );
        assert!(!shown.contains("pw") && !shown.contains("sig"), "{shown}");
    }

    #[test]
    fn only_https_or_loopback_http_is_allowed() {
        for (url, allowed) in [
            ("https://updates.example/x", true),
            ("http://127.0.0.1:9000/x", true),
            ("http://[::1]:9000/x", true),
            ("http://localhost:9000/x", true),
            ("http://updates.example/x", false),
            ("http://10.0.0.1/x", false),
            ("ftp://updates.example/x", false),
            ("file:///tmp/runtime-dev.json", false),
        ] {
            assert_eq!(
                transport_allowed(&Url::parse(url).unwrap()),
                allowed,
                "{url}"
            );
        }
    }
}
