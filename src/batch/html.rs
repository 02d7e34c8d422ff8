//! HTML to plain text for the `--text` field of HTML-only mail.
//!
//! A small tag stripper, not a renderer: it drops tags, comments and the
//! contents of `<script>`, `<style>` and `<head>`, decodes character
//! references (the common named ones and every numeric one), collapses
//! blanks and puts line breaks where block elements (`p`, `div`, `br`,
//! `li`, `tr`, headings, ...) end. It never fails and runs in one pass, so
//! hostile markup (unclosed tags, stray `<`) only costs text, not time.

/// Block elements that end a line.
const BLOCK: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "hr",
    "section",
    "article",
    "header",
    "footer",
    "title",
    "dd",
    "dt",
];
/// Elements whose content is not text.
const HIDDEN: &[&str] = &["script", "style", "head"];

/// The text of an HTML document.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut hidden: Option<String> = None;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if hidden.is_none() {
                push_text(&mut out, rest);
            }
            break;
        };
        if hidden.is_none() {
            push_text(&mut out, &rest[..lt]);
        }
        rest = &rest[lt..];
        // '<' not followed by a tag name, '/' or '!' is text ("a < b").
        if !rest[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!') {
            if hidden.is_none() {
                push_text(&mut out, "<");
            }
            rest = &rest[1..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            // A stray '<' with no tag after it is text.
            if hidden.is_none() {
                push_text(&mut out, rest);
            }
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(h) = &hidden {
            if closing && *h == name {
                hidden = None;
            }
            continue;
        }
        if !closing && HIDDEN.contains(&name.as_str()) && !tag.ends_with('/') {
            hidden = Some(name);
            continue;
        }
        if BLOCK.contains(&name.as_str()) {
            newline(&mut out);
        }
    }
    let trimmed: Vec<&str> = out.lines().map(str::trim_end).collect();
    let mut text = trimmed.join("\n").trim().to_string();
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

fn newline(out: &mut String) {
    while out.ends_with(' ') {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Appends text with blanks collapsed and references decoded.
fn push_text(out: &mut String, text: &str) {
    let decoded = decode_entities(text);
    for c in decoded.chars() {
        if c.is_whitespace() && c != '\u{a0}' {
            if !(out.is_empty() || out.ends_with(' ') || out.ends_with('\n')) {
                out.push(' ');
            }
        } else {
            out.push(if c == '\u{a0}' { ' ' } else { c });
        }
    }
}

fn decode_entities(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('&') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|i| i + 1);
        let (name, skip) = match end {
            Some(e) if rest[e..].starts_with(';') => (&rest[1..e], e + 1),
            Some(e) => (&rest[1..e], e),
            None => (&rest[1..], rest.len()),
        };
        match entity(name) {
            Some(c) => {
                out.push(c);
                rest = &rest[skip..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out.into()
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(h) => u32::from_str_radix(h, 16).ok()?,
            None => num.parse().ok()?,
        };
        return Some(
            char::from_u32(code)
                .filter(|&c| c != '\0')
                .unwrap_or('\u{fffd}'),
        );
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "euro" => '€',
        "pound" => '£',
        "bull" => '•',
        "middot" => '·',
        "eacute" => 'é',
        "egrave" => 'è',
        "agrave" => 'à',
        "auml" => 'ä',
        "ouml" => 'ö',
        "uuml" => 'ü',
        "szlig" => 'ß',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn strips_tags_and_breaks_blocks() {
        let html = "<html><head><title>t</title><style>p{x:1}</style></head><body>\
                    <p>Hello&nbsp;<b>world</b> &amp; co &#233;&#x263A;</p><div>line2<br>line3</div>\
                    <script>alert(1)</script><!-- hidden --> a < b &bogus; end</body></html>";
        assert_eq!(
            html_to_text(html),
            "Hello world & co é☺\nline2\nline3\na < b &bogus; end\n"
        );
        assert_eq!(html_to_text("<p unclosed"), "<p unclosed\n");
        assert_eq!(html_to_text(""), "");
    }
}
