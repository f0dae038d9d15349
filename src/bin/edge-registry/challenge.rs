//! `WWW-Authenticate` challenges (RFC 9110 section 11.6.1): a scheme and its parameters,
//! e.g. `Bearer realm="https://r.example/token",service="r.example",scope="repository:a:pull"`.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower case: schemes are case-insensitive.
    pub scheme: String,
    /// Parameter names in lower case, values unquoted.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Every challenge in a header value; malformed parameters end the parse, keeping what came
/// before them.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut challenges = Vec::new();
    let mut rest = header.trim_start_matches([' ', '\t', ',']);
    while let Some((scheme, after)) = token(rest) {
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: BTreeMap::new(),
        };
        rest = after.trim_start_matches([' ', '\t']);
        // Parameters until the next `scheme ` (a token not followed by `=`).
        while let Some((name, after_name)) = token(rest) {
            let Some(after_equals) = after_name.trim_start_matches([' ', '\t']).strip_prefix('=')
            else {
                break;
            };
            let Some((value, after_value)) = value(after_equals.trim_start_matches([' ', '\t']))
            else {
                challenges.push(challenge);
                return challenges;
            };
            challenge.params.insert(name.to_ascii_lowercase(), value);
            rest = after_value.trim_start_matches([' ', '\t', ',']);
        }
        challenges.push(challenge);
    }
    challenges
}

/// RFC 9110's `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn token(text: &str) -> Option<(&str, &str)> {
    let end = text.find(|c: char| !is_tchar(c)).unwrap_or(text.len());
    (end > 0).then(|| text.split_at(end))
}

/// A quoted string (with `\` escapes) or a token.
fn value(text: &str) -> Option<(String, &str)> {
    let Some(quoted) = text.strip_prefix('"') else {
        return token(text).map(|(v, rest)| (v.to_string(), rest));
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &quoted[i + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_bearer_challenge_as_this_registry_sends_it() {
        let parsed = parse(
            r#"Bearer realm="http://127.0.0.1:8787/token",service="127.0.0.1:8787",scope="repository:team/app:pull,push",error="insufficient_scope""#,
        );
        assert_eq!(
            parsed,
            vec![Challenge {
                scheme: "bearer".into(),
                params: params(&[
                    ("realm", "http://127.0.0.1:8787/token"),
                    ("service", "127.0.0.1:8787"),
                    ("scope", "repository:team/app:pull,push"),
                    ("error", "insufficient_scope"),
                ]),
            }]
        );
        assert_eq!(
            parsed[0].param("scope"),
            Some("repository:team/app:pull,push")
        );
    }

    #[test]
    fn basic_spaces_tokens_escapes_and_case() {
        assert_eq!(
            parse(r#"Basic realm="Registry \"main\"""#),
            vec![Challenge {
                scheme: "basic".into(),
                params: params(&[("realm", r#"Registry "main""#)]),
            }]
        );
        assert_eq!(
            parse(r#"BEARER Realm = "https://auth.example/token" , Service=registry.example"#)[0]
                .params,
            params(&[
                ("realm", "https://auth.example/token"),
                ("service", "registry.example")
            ])
        );
    }

    #[test]
    fn several_challenges_in_one_header() {
        let parsed = parse(r#"Basic realm="r", Bearer realm="https://a/token",service="s""#);
        let schemes: Vec<&str> = parsed.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["basic", "bearer"]);
        assert_eq!(parsed[1].param("service"), Some("s"));
    }

    #[test]
    fn malformed_headers_never_panic_and_keep_what_parsed() {
        assert_eq!(parse(""), vec![]);
        assert_eq!(
            parse("Bearer"),
            vec![Challenge {
                scheme: "bearer".into(),
                params: BTreeMap::new()
            }]
        );
        let unterminated = parse(r#"Bearer realm="https://a/token",service="s"#);
        assert_eq!(
            unterminated[0].params,
            params(&[("realm", "https://a/token")])
        );
        // Multi-byte characters in values are kept whole.
        assert_eq!(
            parse(r#"Basic realm="régistre""#)[0].param("realm"),
            Some("régistre")
        );
        assert_eq!(parse("Bearer realm=\"a\\")[0].params, BTreeMap::new());
    }
}
