//! RFC 822-style stanzas as dpkg's databases and Python's package metadata write them:
//! `Name: value` fields, continuation lines starting with a space or tab, blank lines between
//! stanzas.

/// One stanza's fields, in order, each with the first line of its value (trimmed); the
/// continuation lines of multi-line fields (descriptions, file lists) are skipped.
pub(super) type Fields<'a> = Vec<(&'a str, &'a str)>;

/// The stanzas of `text`; lines that are neither fields nor continuations are ignored.
pub(super) fn stanzas(text: &str) -> impl Iterator<Item = Fields<'_>> {
    let mut lines = text.lines().peekable();
    std::iter::from_fn(move || {
        while lines.next_if(|line| line.trim().is_empty()).is_some() {}
        lines.peek()?;
        let mut fields = Vec::new();
        while let Some(line) = lines.next_if(|line| !line.trim().is_empty()) {
            if line.starts_with([' ', '\t']) {
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                fields.push((name.trim(), value.trim()));
            }
        }
        Some(fields)
    })
}

/// The value of the first field called `name` (field names are case-insensitive).
pub(super) fn field<'a>(fields: &Fields<'a>, name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(field, _)| field.eq_ignore_ascii_case(name))
        .map(|&(_, value)| value)
}
