//! HTML to plain text for `body_text` of HTML-only mail (and jsonl's
//! `--text`).
//!
//! The HTML is read by html5ever's tokenizer, the WHATWG tokenizer of the
//! Servo project: character references (all of them), comments, CDATA,
//! `<script>`/`<style>` raw text and broken markup are read as browsers
//! read them. No tree is built (that costs several times more and a text
//! index needs none): this module keeps the text tokens outside hidden
//! elements (`<script>`, `<style>`, `<head>`...), collapses blanks and puts
//! line breaks where block elements (`p`, `div`, `br`, `li`, `tr`,
//! headings, ...) start or end. It never fails; the tokenizer is linear,
//! so hostile markup costs text, not time (about 60 MB/s a core).

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

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
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tok = Tokenizer::new(
        Text {
            out: RefCell::new(String::with_capacity(html.len() / 2)),
            hidden: RefCell::new(Vec::new()),
        },
        TokenizerOpts::default(),
    );
    // The sink never asks for a script to run, so one feed reads it all.
    let _ = tok.feed(&input);
    tok.end();
    let out = tok.sink.out.into_inner();
    let trimmed: Vec<&str> = out.lines().map(str::trim_end).collect();
    let mut text = trimmed.join("\n").trim().to_string();
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// The token sink: text so far, and the hidden elements open.
struct Text {
    out: RefCell<String>,
    hidden: RefCell<Vec<String>>,
}

impl TokenSink for Text {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut out = self.out.borrow_mut();
        let mut hidden = self.hidden.borrow_mut();
        match token {
            Token::CharacterTokens(t) if hidden.is_empty() => push_text(&mut out, &t),
            Token::TagToken(tag) => {
                let name: &str = &tag.name;
                match tag.kind {
                    // A head left open ends where the body starts.
                    TagKind::StartTag if name == "body" => hidden.retain(|h| h != "head"),
                    TagKind::StartTag if HIDDEN.contains(&name) && !tag.self_closing => {
                        hidden.push(name.to_string());
                        // What the tree builder would tell the tokenizer:
                        // script and style hold raw text, not markup.
                        match name {
                            "script" => return TokenSinkResult::RawData(RawKind::ScriptData),
                            "style" => return TokenSinkResult::RawData(RawKind::Rawtext),
                            _ => {}
                        }
                    }
                    TagKind::EndTag if hidden.last().is_some_and(|h| h == name) => {
                        hidden.pop();
                    }
                    _ if hidden.is_empty() && BLOCK.contains(&name) => newline(&mut out),
                    _ => {}
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

fn newline(out: &mut String) {
    while out.ends_with(' ') {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Appends text with blanks collapsed (a no-break space is a blank).
fn push_text(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_whitespace() {
            if !(out.is_empty() || out.ends_with(' ') || out.ends_with('\n')) {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
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
        // A tag cut off by the end of the input is dropped, as browsers do.
        assert_eq!(html_to_text("text <p unclosed"), "text\n");
        assert_eq!(
            html_to_text("<script>if (a<b) x()</script>after"),
            "after\n"
        );
        assert_eq!(html_to_text("&eacute;&notin;&Zopf;"), "é∉ℤ\n");
        assert_eq!(
            html_to_text("<html><head><title>t</title><body><p>shown</p>"),
            "shown\n"
        );
        assert_eq!(html_to_text(""), "");
    }
}
