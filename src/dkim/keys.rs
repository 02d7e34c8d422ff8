//! Key sources: keys from disk, for verifying archives offline, and the
//! record of the keys a run used.
//!
//! Two file formats are read ([`KeyStore::load`] tells them apart by the
//! first non-blank byte, `{` for JSON):
//!
//! * **zone file**: master-file style lines,
//!   `sel._domainkey.example.com. 3600 IN TXT "v=DKIM1; k=rsa; " "p=MIIB..."`.
//!   The strings of one TXT record are joined; parentheses continue a
//!   record over lines; `;` starts a comment outside quotes; `$ORIGIN`
//!   completes relative names; TTL and class are optional; other record
//!   types are skipped.
//! * **JSON key cache**, both `--keys` input and `--save-keys` output
//!   (the format is defined here and in the README, once):
//!
//!   ```json
//!   {"format": "mimeflow-dkim-keys", "version": 1,
//!    "keys": [{"name": "sel._domainkey.example.com", "txt": "v=DKIM1; p=..."},
//!             {"name": "old._domainkey.example.com", "txt": null}]}
//!   ```
//!
//!   `txt` is the record with its strings joined; `null` records that the
//!   name did not exist (NXDOMAIN) when it was looked up, so a later
//!   offline run gives the same permerror. Names are lower case without
//!   the final dot.
//!
//! A name no source holds is a temperror, "no key source": absence from a
//! file says nothing about DNS (RFC 6376 §6.1.2 asks for a temperror when
//! the key cannot be had now).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{KeySource, Lookup};

/// The `format` value of the JSON key cache.
pub const JSON_FORMAT: &str = "mimeflow-dkim-keys";

/// A name's record (`None`: recorded as not existing) and its source.
type Held = (Option<Arc<[u8]>>, Arc<str>);

/// Keys by name, from files and (optionally) a live source behind them,
/// remembering which names a run looked up.
pub struct KeyStore {
    source: Arc<str>,
    /// (record, file it came from); a `None` record: recorded as not
    /// existing. Shared, so a lookup hands out the record without a copy.
    keys: HashMap<String, Held>,
    live: Option<Box<dyn KeySource + Send>>,
    /// Answers of the live source, kept for the run (one query per name).
    cache: Mutex<HashMap<String, Lookup>>,
    used: Mutex<BTreeMap<String, Option<Arc<[u8]>>>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyStore({}, {} keys)", self.source, self.keys.len())
    }
}

fn normalize(name: &str) -> String {
    normalized(name).into_owned()
}

/// A name without surrounding blanks or a final dot, in lower case;
/// borrowed when it already is so (the verifier asks in lower case,
/// without a final dot).
fn normalized(name: &str) -> Cow<'_, str> {
    let plain = name.trim().trim_end_matches('.');
    if plain.len() == name.len() && !name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(plain.to_ascii_lowercase())
    }
}

impl KeyStore {
    /// An empty store whose keys are reported as coming from `source`.
    pub fn new(source: &str) -> KeyStore {
        KeyStore {
            source: source.into(),
            keys: HashMap::new(),
            live: None,
            cache: Mutex::new(HashMap::new()),
            used: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds a key record.
    pub fn insert(&mut self, name: &str, record: impl Into<Arc<[u8]>>) {
        self.keys
            .insert(normalize(name), (Some(record.into()), self.source.clone()));
    }

    /// Records that `name` does not exist.
    pub fn insert_absent(&mut self, name: &str) {
        self.keys
            .insert(normalize(name), (None, self.source.clone()));
    }

    /// A store holding the same names (records shared, not copied), with
    /// no live source and nothing looked up yet.
    pub fn copy_keys(&self) -> KeyStore {
        KeyStore {
            keys: self.keys.clone(),
            ..KeyStore::new(&self.source)
        }
    }

    /// Adds every name of `other` (with its source), replacing names
    /// held here.
    pub fn merge(&mut self, other: KeyStore) {
        self.keys.extend(other.keys);
    }

    /// Number of names held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no names are held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Asks `live` (DNS) for names the files do not hold.
    pub fn set_live(&mut self, live: Box<dyn KeySource + Send>) {
        self.live = Some(live);
    }

    /// Reads a zone file or a JSON key cache; keys are reported as coming
    /// from its path.
    pub fn load(path: &Path) -> Result<KeyStore, String> {
        let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut store = KeyStore::new(&path.display().to_string());
        let first = text.iter().find(|b| !b.is_ascii_whitespace());
        let res = if first == Some(&b'{') {
            store.add_json(&text)
        } else {
            store.add_zone(&text)
        };
        res.map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(store)
    }

    /// Adds the records of a JSON key cache.
    pub fn add_json(&mut self, text: &[u8]) -> Result<(), String> {
        let v: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| format!("not JSON: {e}"))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(JSON_FORMAT) {
            return Err(format!(
                "not a key cache (\"format\" is not {JSON_FORMAT:?})"
            ));
        }
        if v.get("version").and_then(|f| f.as_u64()) != Some(1) {
            return Err("unsupported key cache version".into());
        }
        let keys = v
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or("no \"keys\" list")?;
        for k in keys {
            let name = k
                .get("name")
                .and_then(|n| n.as_str())
                .ok_or("key without \"name\"")?;
            match k.get("txt") {
                Some(serde_json::Value::String(t)) => self.insert(name, t.as_bytes().to_vec()),
                Some(serde_json::Value::Null) => self.insert_absent(name),
                _ => return Err(format!("key {name}: \"txt\" must be a string or null")),
            }
        }
        Ok(())
    }

    /// Adds the TXT records of a zone file.
    pub fn add_zone(&mut self, text: &[u8]) -> Result<(), String> {
        for (name, record) in parse_zone(text)? {
            self.insert(&name, record);
        }
        Ok(())
    }

    /// The keys looked up so far (found and non-existent; not temporary
    /// failures), as a JSON key cache.
    pub fn used_json(&self) -> String {
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<serde_json::Value> = used
            .iter()
            .map(|(name, txt)| {
                serde_json::json!({
                    "name": name,
                    "txt": txt.as_ref().map(|t| String::from_utf8_lossy(t).into_owned()),
                })
            })
            .collect();
        let doc = serde_json::json!({"format": JSON_FORMAT, "version": 1, "keys": keys});
        serde_json::to_string_pretty(&doc).expect("JSON of strings") + "\n"
    }

    fn remember(&self, name: &str, answer: &Lookup) {
        let txt = match answer {
            Lookup::Found { record, .. } => Some(Arc::clone(record)),
            Lookup::NotFound { .. } => None,
            Lookup::TempFail { .. } => return,
        };
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        // Every message asks again: no allocation for a name already kept.
        if !used.contains_key(name) {
            used.insert(name.to_string(), txt);
        }
    }
}

impl KeySource for KeyStore {
    fn lookup(&self, name: &str) -> Lookup {
        let name = normalized(name);
        let name = name.as_ref();
        let answer = match self.keys.get(name) {
            Some((Some(record), source)) => Lookup::Found {
                record: Arc::clone(record),
                source: Arc::clone(source),
            },
            Some((None, source)) => Lookup::NotFound {
                source: source.clone(),
            },
            None => match &self.live {
                None => Lookup::TempFail {
                    reason: format!("no key source holds {name}"),
                },
                Some(live) => {
                    let cached = self
                        .cache
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(name)
                        .cloned();
                    match cached {
                        Some(a) => a,
                        None => {
                            let a = live.lookup(name);
                            self.cache
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(name.to_string(), a.clone());
                            a
                        }
                    }
                }
            },
        };
        self.remember(name, &answer);
        answer
    }
}

/// One token of a zone file.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(Vec<u8>),
    Quoted(Vec<u8>),
    /// A line end outside parentheses.
    End,
    /// Blanks at the start of a line (the owner is the previous one).
    Indent,
}

fn tokenize(text: &[u8]) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut line_start = true;
    while i < text.len() {
        let c = text[i];
        let at_start = std::mem::replace(&mut line_start, false);
        match c {
            b'\n' => {
                if depth == 0 {
                    out.push(Token::End);
                }
                line_start = true;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => {
                if at_start && depth == 0 {
                    out.push(Token::Indent);
                }
                while i < text.len() && matches!(text[i], b' ' | b'\t' | b'\r') {
                    i += 1;
                }
            }
            b';' => {
                while i < text.len() && text[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.checked_sub(1).ok_or("unbalanced ')'")?;
                i += 1;
            }
            b'"' => {
                let mut s = Vec::new();
                i += 1;
                loop {
                    match text.get(i) {
                        None => return Err("unterminated string".into()),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            let d = text
                                .get(i + 1..i + 4)
                                .filter(|d| d.iter().all(u8::is_ascii_digit));
                            if let Some(d) = d {
                                let n = d.iter().fold(0u32, |n, &b| n * 10 + (b - b'0') as u32);
                                s.push(u8::try_from(n).map_err(|_| "bad \\DDD escape")?);
                                i += 4;
                            } else {
                                s.push(*text.get(i + 1).ok_or("unterminated string")?);
                                i += 2;
                            }
                        }
                        Some(&b) => {
                            s.push(b);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push(Token::Quoted(s));
            }
            _ => {
                let start = i;
                while i < text.len() && !b" \t\r\n;()\"".contains(&text[i]) {
                    i += 1;
                }
                out.push(Token::Word(text[start..i].to_vec()));
            }
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".into());
    }
    out.push(Token::End);
    Ok(out)
}

/// The TXT records of a zone file: (owner name, joined strings).
pub fn parse_zone(text: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let tokens = tokenize(text)?;
    let mut out = Vec::new();
    let mut origin = String::new();
    let mut last_owner: Option<String> = None;
    for (n, line) in tokens.split(|t| *t == Token::End).enumerate() {
        if line.is_empty() || line == [Token::Indent] {
            continue;
        }
        let err = |m: &str| format!("record {}: {m}", n + 1);
        let word = |t: &Token| match t {
            Token::Word(w) => Some(String::from_utf8_lossy(w).into_owned()),
            _ => None,
        };
        let (owner, rest) = match &line[0] {
            Token::Indent => (
                last_owner.clone().ok_or_else(|| err("no owner name"))?,
                &line[1..],
            ),
            t => {
                let w = word(t).ok_or_else(|| err("no owner name"))?;
                if w.eq_ignore_ascii_case("$ORIGIN") {
                    origin = line
                        .get(1)
                        .and_then(word)
                        .ok_or_else(|| err("$ORIGIN without a name"))?;
                    continue;
                }
                if w.starts_with('$') {
                    continue; // $TTL, $INCLUDE (not followed)
                }
                let full = if w.ends_with('.') {
                    w
                } else if w == "@" {
                    origin.clone()
                } else if origin.is_empty() {
                    w
                } else {
                    format!("{w}.{}", origin.trim_end_matches('.'))
                };
                (full, &line[1..])
            }
        };
        last_owner = Some(owner.clone());
        // Skip TTL and class, find the type.
        let Some(ty) = rest.iter().position(|t| {
            word(t).is_some_and(|w| {
                !w.bytes().all(|b| b.is_ascii_digit()) && !w.eq_ignore_ascii_case("IN")
            })
        }) else {
            return Err(err("no record type"));
        };
        if !word(&rest[ty]).is_some_and(|w| w.eq_ignore_ascii_case("TXT")) {
            continue;
        }
        let mut txt = Vec::new();
        for t in &rest[ty + 1..] {
            match t {
                Token::Quoted(s) | Token::Word(s) => txt.extend_from_slice(s),
                _ => {}
            }
        }
        out.push((normalize(&owner), txt));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_files() {
        let zone = b"$ORIGIN example.com.\n\
            ; a comment; with semicolons\n\
            s1._domainkey 3600 IN TXT \"v=DKIM1; k=ed25519; \" \"p=AAAA\"\n\
            S2._domainkey.Example.NET. TXT ( \"v=DKIM1; \"\n   \"p=\\\"x\\059\" ) ; end\n\
            www A 1.2.3.4\n";
        let recs = parse_zone(zone).unwrap();
        assert_eq!(
            recs,
            vec![
                (
                    "s1._domainkey.example.com".into(),
                    b"v=DKIM1; k=ed25519; p=AAAA".to_vec()
                ),
                (
                    "s2._domainkey.example.net".into(),
                    b"v=DKIM1; p=\"x;".to_vec()
                ),
            ]
        );
        assert!(parse_zone(b"a TXT \"open").is_err());
        assert!(parse_zone(b"a TXT ( \"x\"").is_err());
    }

    #[test]
    fn json_round_trip_and_lookups() {
        let mut s = KeyStore::new("k.json");
        s.add_json(
            br#"{"format":"mimeflow-dkim-keys","version":1,"keys":[
                {"name":"a._domainkey.x.org","txt":"p="},{"name":"b._domainkey.x.org","txt":null}]}"#,
        )
        .unwrap();
        assert!(matches!(
            s.lookup("A._domainkey.x.org."),
            Lookup::Found { .. }
        ));
        assert!(matches!(
            s.lookup("b._domainkey.x.org"),
            Lookup::NotFound { .. }
        ));
        assert!(matches!(
            s.lookup("c._domainkey.x.org"),
            Lookup::TempFail { .. }
        ));
        let mut again = KeyStore::new("again");
        again.add_json(s.used_json().as_bytes()).unwrap();
        let txts = |k: &KeyStore| {
            let mut v: Vec<_> = k
                .keys
                .iter()
                .map(|(n, (t, _))| (n.clone(), t.clone()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(txts(&again), txts(&s));
        assert!(KeyStore::new("x").add_json(b"{\"keys\":[]}").is_err());
    }
}
