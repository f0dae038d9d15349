//! Alpine's version order, ported from apk-tools' `src/version.c` (no crate implements it):
//! `digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}`, compared token by token. Where
//! one version's tokens run out first or the token types differ, the later type sorts lower,
//! except that a pre-release suffix (`_alpha`, `_beta`, `_pre`, `_rc`) sorts before the end.

use std::cmp::Ordering;

use super::{Scheme, VersionError};

/// Token types in apk-tools' order, which is also the grammar's: each may only follow those
/// before it (or a digit another digit, a suffix a suffix number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNumber,
    CommitHash,
    Revision,
    End,
}

/// Suffixes in order; `None` (no suffix) sits between `Rc` and `Cvs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Suffix {
    Alpha,
    Beta,
    Pre,
    Rc,
    None,
    Cvs,
    Svn,
    Git,
    Hg,
    P,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    text: String,
    suffix: Suffix,
}

/// A valid apk version, as its tokens (the terminating end is implicit).
#[derive(Debug, Clone)]
pub struct Version {
    tokens: Vec<Token>,
}

fn error(reason: &str) -> VersionError {
    VersionError::new(Scheme::Apk, reason)
}

/// Splits the leading run of `matching` characters off `rest`.
fn take_while(rest: &str, matching: impl Fn(char) -> bool) -> (&str, &str) {
    rest.split_at(rest.find(|c: char| !matching(c)).unwrap_or(rest.len()))
}

impl Version {
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let (digits, mut rest) = take_while(text.trim(), |c| c.is_ascii_digit());
        if digits.is_empty() {
            return Err(error("does not start with a digit"));
        }
        let mut tokens = vec![Token::new(Kind::InitialDigit, digits)];
        let mut previous = Kind::InitialDigit;
        while let Some(c) = rest.chars().next() {
            let after = rest.get(c.len_utf8()..).unwrap_or_default();
            let (token, next) = match c {
                'a'..='z' if previous <= Kind::Digit => {
                    (Token::new(Kind::Letter, &c.to_string()), after)
                }
                '.' if previous <= Kind::Digit => digits_token(Kind::Digit, after)?,
                '0'..='9' if previous == Kind::Suffix => digits_token(Kind::SuffixNumber, rest)?,
                '_' if previous <= Kind::SuffixNumber => {
                    let (name, next) = take_while(after, |c| c.is_ascii_lowercase());
                    let suffix = suffix(name).ok_or_else(|| error("unknown suffix"))?;
                    (
                        Token {
                            suffix,
                            ..Token::new(Kind::Suffix, name)
                        },
                        next,
                    )
                }
                '~' if previous < Kind::CommitHash => {
                    let (hash, next) = take_while(after, |c| c.is_ascii_hexdigit());
                    if hash.is_empty() {
                        return Err(error("empty commit hash"));
                    }
                    (Token::new(Kind::CommitHash, hash), next)
                }
                '-' if previous < Kind::Revision => match after.strip_prefix('r') {
                    Some(after) => digits_token(Kind::Revision, after)?,
                    None => return Err(error("a hyphen must start a revision (-rN)")),
                },
                _ => return Err(error("unexpected character")),
            };
            previous = token.kind;
            tokens.push(token);
            rest = next;
        }
        Ok(Self { tokens })
    }

    fn kind_at(&self, index: usize) -> Kind {
        self.tokens.get(index).map_or(Kind::End, |token| token.kind)
    }

    fn is_pre_release_at(&self, index: usize) -> bool {
        self.tokens
            .get(index)
            .is_some_and(|token| token.kind == Kind::Suffix && token.suffix < Suffix::None)
    }
}

impl Token {
    fn new(kind: Kind, text: &str) -> Self {
        Self {
            kind,
            text: text.to_owned(),
            suffix: Suffix::None,
        }
    }

    fn cmp_same_kind(&self, other: &Self) -> Ordering {
        match self.kind {
            // A leading zero makes apk compare the digits as text, as Gentoo does.
            Kind::Digit if self.text.starts_with('0') || other.text.starts_with('0') => {
                self.text.cmp(&other.text)
            }
            Kind::InitialDigit | Kind::Digit | Kind::SuffixNumber | Kind::Revision => {
                let (a, b) = (
                    self.text.trim_start_matches('0'),
                    other.text.trim_start_matches('0'),
                );
                a.len().cmp(&b.len()).then_with(|| a.cmp(b))
            }
            Kind::Suffix => self.suffix.cmp(&other.suffix),
            Kind::Letter | Kind::CommitHash | Kind::End => self.text.cmp(&other.text),
        }
    }
}

/// A token of `kind` made of the digits that start `rest` (at least one).
fn digits_token(kind: Kind, rest: &str) -> Result<(Token, &str), VersionError> {
    let (digits, next) = take_while(rest, |c| c.is_ascii_digit());
    if digits.is_empty() {
        return Err(error("number expected"));
    }
    Ok((Token::new(kind, digits), next))
}

fn suffix(name: &str) -> Option<Suffix> {
    Some(match name {
        "alpha" => Suffix::Alpha,
        "beta" => Suffix::Beta,
        "pre" => Suffix::Pre,
        "rc" => Suffix::Rc,
        "cvs" => Suffix::Cvs,
        "svn" => Suffix::Svn,
        "git" => Suffix::Git,
        "hg" => Suffix::Hg,
        "p" => Suffix::P,
        _ => return None,
    })
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let mut index = 0;
        while let (Some(a), Some(b)) = (self.tokens.get(index), other.tokens.get(index)) {
            if a.kind != b.kind {
                break;
            }
            match a.cmp_same_kind(b) {
                Ordering::Equal => index += 1,
                unequal => return unequal,
            }
        }
        let (a, b) = (self.kind_at(index), other.kind_at(index));
        if a == b {
            Ordering::Equal
        } else if self.is_pre_release_at(index) {
            Ordering::Less
        } else if other.is_pre_release_at(index) {
            Ordering::Greater
        } else {
            b.cmp(&a)
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}
