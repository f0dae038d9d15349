//! Logging in and out: the session cookie, the CSRF checks, and what a session shows.

use super::harness::{Harness, Reply, READER};
use super::session::SESSION_SECONDS;
use crate::api::Method;
use crate::auth::token::LEEWAY_SECONDS;

const FORM: &str = "application/x-www-form-urlencoded";

/// The login form's CSRF token and the cookie that goes with it.
fn form_token(h: &Harness) -> String {
    let form = h.page("/login", None);
    assert_eq!(form.status, 200);
    assert_eq!(form.header("cache-control"), Some("private, no-store"));
    let set = form.set_cookie("csrf").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let token = form.cookie("csrf").unwrap();
    let field = form.attribute_after(r#"name="csrf""#, "value").unwrap();
    assert_eq!(field, token);
    for contract in [
        r#"<form id="login" method="post" action="/login">"#,
        r#"<label for="username">"#,
        r#"<input id="username" type="text" name="username""#,
        r#"<label for="password">"#,
        r#"<input id="password" type="password" name="password""#,
        r#"<button type="submit">"#,
    ] {
        assert!(form.body.contains(contract), "{contract} in {}", form.body);
    }
    token
}

fn post(h: &Harness, path: &str, cookie: &str, form: &str, extra: &[(&str, &str)]) -> Reply {
    let mut headers = vec![("content-type", FORM), ("cookie", cookie)];
    headers.extend_from_slice(extra);
    h.send(Method::POST, path, &headers, form.as_bytes())
}

fn log_in(h: &Harness, user_and_password: &str) -> Reply {
    let csrf = form_token(h);
    let (user, password) = user_and_password.split_once(':').unwrap();
    let form = format!("username={user}&password={password}&csrf={csrf}");
    let same_site = [
        ("sec-fetch-site", "same-origin"),
        ("origin", "http://localhost"),
    ];
    post(h, "/login", &format!("csrf={csrf}"), &form, &same_site)
}

fn assert_refused(reply: &Reply, status: u16) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(
        reply.body.contains(r#"<p id="login-error""#),
        "{}",
        reply.body
    );
    assert!(reply.set_cookie("session").is_none());
}

#[test]
fn a_login_shows_private_repositories_until_the_logout() {
    let h = Harness::new(true);
    h.push_simple("private/app", "v1", 1);
    h.push_simple("public", "v1", 2);
    let anonymous = h.page("/", None);
    assert!(!anonymous.body.contains("private/app"));
    assert_eq!(h.page("/r/private/app", None).status, 404);

    let login = log_in(&h, READER);
    assert_eq!(login.status, 303, "{}", login.body);
    assert_eq!(login.header("location"), Some("/"));
    let set = login.set_cookie("session").unwrap();
    for flag in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=3600",
    ] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    let session = format!("session={}", login.cookie("session").unwrap());

    let home = h.page("/", Some(&session));
    assert_eq!(home.status, 200);
    assert_eq!(home.header("cache-control"), Some("private, no-store"));
    assert!(home.body.contains(r#"data-repository="private/app""#));
    assert!(
        home.body.contains(r#"<span id="user">reader</span>"#),
        "{}",
        home.body
    );
    assert!(!home.body.contains("login-link"));
    let csrf = home.cookie("csrf").expect("the logout form's token");
    assert_eq!(
        home.attribute_after(r#"<form id="logout""#, "value"),
        Some(csrf.clone())
    );
    assert_eq!(h.page("/r/private/app", Some(&session)).status, 200);
    assert_eq!(
        h.page("/r/private/app/-/tag/v1", Some(&session)).status,
        200
    );

    let cookies = format!("{session}; csrf={csrf}");
    let forged = post(
        &h,
        "/logout",
        &cookies,
        "csrf=00000000000000000000000000000000",
        &[],
    );
    assert_eq!(forged.status, 403);
    assert!(forged.set_cookie("session").is_none());
    let logout = post(&h, "/logout", &cookies, &format!("csrf={csrf}"), &[]);
    assert_eq!(logout.status, 303);
    assert_eq!(logout.header("location"), Some("/"));
    let cleared = logout.set_cookie("session").unwrap();
    assert!(
        cleared.starts_with("session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert!(!h.page("/", None).body.contains("private/app"));
}

#[test]
fn failed_and_forged_logins_set_no_session() {
    let h = Harness::new(true);
    let csrf = form_token(&h);
    let cookie = format!("csrf={csrf}");
    let good = format!("username=reader&password=reader-password&csrf={csrf}");
    let wrong = post(
        &h,
        "/login",
        &cookie,
        &format!("username=reader&password=nope&csrf={csrf}"),
        &[],
    );
    assert_refused(&wrong, 401);
    assert!(
        wrong.body.contains(r#"value="reader""#),
        "the user name is kept"
    );
    let unknown = post(
        &h,
        "/login",
        &cookie,
        &format!("username=nobody&password=x&csrf={csrf}"),
        &[],
    );
    assert_refused(&unknown, 401);
    let missing = post(
        &h,
        "/login",
        &cookie,
        "username=reader&password=reader-password",
        &[],
    );
    assert_refused(&missing, 403);
    let no_cookie = post(&h, "/login", "", &good, &[]);
    assert_refused(&no_cookie, 403);
    let mismatched = post(
        &h,
        "/login",
        "csrf=0000000000000000000000000000000f",
        &good,
        &[],
    );
    assert_refused(&mismatched, 403);
    let cross_site = post(
        &h,
        "/login",
        &cookie,
        &good,
        &[("sec-fetch-site", "cross-site")],
    );
    assert_refused(&cross_site, 403);
    let other_origin = post(
        &h,
        "/login",
        &cookie,
        &good,
        &[("origin", "https://evil.example")],
    );
    assert_refused(&other_origin, 403);
    // The same form, from this site, works.
    assert_eq!(post(&h, "/login", &cookie, &good, &[]).status, 303);
}

#[test]
fn a_login_goes_on_only_to_a_local_path() {
    let h = Harness::new(true);
    let form = h.page("/login?next=/r/private/app", None);
    assert!(form.body.contains(r#"name="next" value="/r/private/app""#));
    assert!(!h
        .page("/login?next=//evil.example", None)
        .body
        .contains("evil"));
    let csrf = form_token(&h);
    for (next, location) in [
        ("/r/private/app", "/r/private/app"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/caf\u{e9}", "/"),
        ("/a\r\nSet-Cookie: x=1", "/"),
        ("/r/app?page=2", "/r/app?page=2"),
    ] {
        let body = format!(
            "username=reader&password=reader-password&csrf={csrf}&next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        let login = post(&h, "/login", &format!("csrf={csrf}"), &body, &[]);
        assert_eq!(login.status, 303);
        assert_eq!(login.header("location"), Some(location), "{next}");
    }
}

#[test]
fn without_a_signing_key_logins_are_unavailable() {
    let h = Harness::new(false);
    let form = h.page("/login", None);
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"<p id="logins-unavailable">"#));
    assert!(!form.body.contains(r#"<form id="login""#));
    let csrf = form.cookie("csrf").unwrap();
    let body = format!("username=reader&password=reader-password&csrf={csrf}");
    let login = post(&h, "/login", &format!("csrf={csrf}"), &body, &[]);
    assert_eq!(login.status, 503);
    assert!(login.set_cookie("session").is_none());
    assert_eq!(h.send(Method::PUT, "/login", &[], b"").status, 405);
}

#[test]
fn a_forged_or_expired_session_is_an_anonymous_visit() {
    let h = Harness::new(true);
    h.push_simple("private/app", "v1", 1);
    let page = h.page("/r/private/app", Some("session=forged.token.here"));
    assert_eq!(page.status, 404);
    assert_eq!(page.header("cache-control"), Some("public, max-age=30"));
    let session = log_in(&h, READER).cookie("session").unwrap();
    let cookie = format!("session={session}");
    assert_eq!(h.page("/r/private/app", Some(&cookie)).status, 200);
    h.advance(SESSION_SECONDS + LEEWAY_SECONDS as u64 + 1);
    assert_eq!(h.page("/r/private/app", Some(&cookie)).status, 404);
}
