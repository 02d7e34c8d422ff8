//! Live key lookups: one DNS TXT query (RFC 1035) per key name, over UDP
//! with an EDNS0 buffer of 4096 bytes (RSA-4096 records exceed the classic
//! 512), and again over TCP when the answer comes back truncated.
//!
//! This is deliberately the smallest resolver that DKIM needs: a single
//! question to one named server (no recursion of our own, no cache beyond
//! the run's, no DNSSEC). The outcomes map onto RFC 6376 §6.1.2:
//! NXDOMAIN (or a name with no TXT record) is `NotFound` (permerror);
//! SERVFAIL, REFUSED, a timeout or a malformed answer is `TempFail`
//! (temperror).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use super::{KeySource, Lookup};

/// Tries per query over UDP before giving up (temperror).
const TRIES: usize = 2;

/// A DNS server to ask.
#[derive(Clone, Debug)]
pub struct Resolver {
    server: SocketAddr,
    timeout: Duration,
}

impl Resolver {
    /// Asks `server`, waiting `timeout` per try.
    pub fn new(server: SocketAddr, timeout: Duration) -> Resolver {
        Resolver { server, timeout }
    }

    /// The first `nameserver` of `/etc/resolv.conf`, port 53.
    pub fn system(timeout: Duration) -> Result<Resolver, String> {
        let conf = std::fs::read_to_string("/etc/resolv.conf")
            .map_err(|e| format!("/etc/resolv.conf: {e}"))?;
        let ip = conf
            .lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .find_map(|rest| rest.trim().parse::<std::net::IpAddr>().ok())
            .ok_or("/etc/resolv.conf names no nameserver")?;
        Ok(Resolver::new(SocketAddr::new(ip, 53), timeout))
    }

    fn query_udp(&self, packet: &[u8], id: u16) -> Result<Vec<u8>, String> {
        let bind: SocketAddr = if self.server.is_ipv4() {
            "0.0.0.0:0".parse().expect("address")
        } else {
            "[::]:0".parse().expect("address")
        };
        let sock = UdpSocket::bind(bind).map_err(|e| format!("DNS socket: {e}"))?;
        sock.connect(self.server)
            .map_err(|e| format!("DNS {}: {e}", self.server))?;
        sock.set_read_timeout(Some(self.timeout))
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65536];
        for _ in 0..TRIES {
            sock.send(packet)
                .map_err(|e| format!("DNS {}: {e}", self.server))?;
            loop {
                match sock.recv(&mut buf) {
                    // Answers to other ids (late replies) are skipped.
                    Ok(n) if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id => {
                        return Ok(buf[..n].to_vec())
                    }
                    Ok(_) => continue,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        break
                    }
                    Err(e) => return Err(format!("DNS {}: {e}", self.server)),
                }
            }
        }
        Err(format!("DNS timeout ({})", self.server))
    }

    fn query_tcp(&self, packet: &[u8]) -> Result<Vec<u8>, String> {
        let err = |e: std::io::Error| format!("DNS {} (TCP): {e}", self.server);
        let mut s = TcpStream::connect_timeout(&self.server, self.timeout).map_err(err)?;
        s.set_read_timeout(Some(self.timeout)).map_err(err)?;
        s.set_write_timeout(Some(self.timeout)).map_err(err)?;
        let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(packet);
        s.write_all(&framed).map_err(err)?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).map_err(err)?;
        let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut answer).map_err(err)?;
        Ok(answer)
    }

    /// The TXT records of `name`, each record's strings joined.
    pub fn txt(&self, name: &str) -> Lookup {
        let id = query_id(name);
        let packet = match build_query(name, id) {
            Ok(p) => p,
            Err(e) => {
                return Lookup::NotFound {
                    source: format!("dns ({e})").into(),
                }
            }
        };
        let answer = self.query_udp(&packet, id).and_then(|a| {
            if a.len() > 2 && a[2] & 0x02 != 0 {
                self.query_tcp(&packet) // TC: truncated
            } else {
                Ok(a)
            }
        });
        match answer.and_then(|a| parse_answer(&a, id)) {
            Err(reason) => Lookup::TempFail { reason },
            Ok(Answer::NxDomain) => Lookup::NotFound {
                source: "dns".into(),
            },
            Ok(Answer::Txt(records)) => match records.into_iter().next() {
                Some(record) => Lookup::Found {
                    record: record.into(),
                    source: "dns".into(),
                },
                None => Lookup::NotFound {
                    source: "dns".into(),
                },
            },
        }
    }
}

impl KeySource for Resolver {
    fn lookup(&self, name: &str) -> Lookup {
        self.txt(name)
    }
}

/// A query id that differs per name and per run.
fn query_id(name: &str) -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(name.as_bytes());
    h.finish() as u16
}

/// A recursive TXT query for `name` with an EDNS0 OPT record.
fn build_query(name: &str, id: u16) -> Result<Vec<u8>, String> {
    let mut p = Vec::with_capacity(64 + name.len());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]); // RD; 1 question, 1 additional
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return Err("bad name length".into());
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("bad label in {name:?}"));
        }
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&[0, 16, 0, 1]); // TXT, IN
                                         // OPT: root name, type 41, UDP size 4096, no flags, no data.
    p.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
    Ok(p)
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    NxDomain,
    Txt(Vec<Vec<u8>>),
}

/// Skips a (possibly compressed) name at `pos`; returns the position after.
fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, String> {
    for _ in 0..128 {
        let len = *msg.get(pos).ok_or("DNS answer cut short")? as usize;
        match len {
            0 => return Ok(pos + 1),
            l if l & 0xc0 == 0xc0 => return Ok(pos + 2),
            l => pos += 1 + l,
        }
    }
    Err("DNS name too long".into())
}

fn u16_at(msg: &[u8], pos: usize) -> Result<u16, String> {
    msg.get(pos..pos + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| "DNS answer cut short".to_string())
}

fn parse_answer(msg: &[u8], id: u16) -> Result<Answer, String> {
    if msg.len() < 12 || u16_at(msg, 0)? != id || msg[2] & 0x80 == 0 {
        return Err("malformed DNS answer".into());
    }
    match msg[3] & 0x0f {
        0 => {}
        3 => return Ok(Answer::NxDomain),
        2 => return Err("DNS SERVFAIL".into()),
        5 => return Err("DNS REFUSED".into()),
        r => return Err(format!("DNS error rcode {r}")),
    }
    let (qd, an) = (u16_at(msg, 4)?, u16_at(msg, 6)?);
    let mut pos = 12;
    for _ in 0..qd {
        pos = skip_name(msg, pos)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        pos = skip_name(msg, pos)?;
        let ty = u16_at(msg, pos)?;
        let rdlen = u16_at(msg, pos + 8)? as usize;
        let rdata = msg
            .get(pos + 10..pos + 10 + rdlen)
            .ok_or("DNS answer cut short")?;
        pos += 10 + rdlen;
        if ty != 16 {
            continue; // CNAME and friends: the server followed them
        }
        let mut txt = Vec::new();
        let mut i = 0;
        while i < rdata.len() {
            let l = rdata[i] as usize;
            txt.extend_from_slice(rdata.get(i + 1..i + 1 + l).ok_or("bad TXT record")?);
            i += 1 + l;
        }
        out.push(txt);
    }
    Ok(Answer::Txt(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(rcode: u8, txt: &[&[u8]]) -> Vec<u8> {
        let q = build_query("s._domainkey.example.org", 7).unwrap();
        let qend = q.len() - 11; // without the OPT record
        let mut a = q[..qend].to_vec();
        a[2] = 0x81;
        a[3] = 0x80 | rcode;
        a[7] = 1;
        a[11] = 0;
        a.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
        let rdata: Vec<u8> = txt
            .iter()
            .flat_map(|s| [&[s.len() as u8][..], s].concat())
            .collect();
        a.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        a.extend_from_slice(&rdata);
        a
    }

    #[test]
    fn answers_map_to_rfc_6376_outcomes() {
        assert_eq!(
            parse_answer(&answer(0, &[b"v=DKIM1; ", b"p="]), 7),
            Ok(Answer::Txt(vec![b"v=DKIM1; p=".to_vec()]))
        );
        assert_eq!(parse_answer(&answer(3, &[]), 7), Ok(Answer::NxDomain));
        assert!(parse_answer(&answer(2, &[]), 7)
            .unwrap_err()
            .contains("SERVFAIL"));
        assert!(parse_answer(&answer(0, &[]), 8).is_err(), "wrong id");
        // Every truncation is an error, never a panic.
        let full = answer(0, &[b"v=DKIM1; p=abc"]);
        for cut in 0..full.len() {
            let _ = parse_answer(&full[..cut], 7);
        }
        assert!(build_query(&"a".repeat(64), 1).is_err());
    }

    #[test]
    fn a_silent_server_is_a_timeout() {
        // A bound socket that never answers: the query times out.
        let quiet = UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = Resolver::new(quiet.local_addr().unwrap(), Duration::from_millis(50));
        match r.txt("s._domainkey.example.org") {
            Lookup::TempFail { reason } => assert!(reason.contains("timeout"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
