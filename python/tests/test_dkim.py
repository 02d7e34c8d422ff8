"""mimeflow.dkim against dkimpy as the oracle, with nobody's keys but the
test's (testdata/dkim/).

dkimpy is an imperfect oracle, so it is wrapped in an adapter:

* ``dkim.verify()`` checks only the first signature and returns a bool:
  the adapter calls ``DKIM(msg).verify(idx)`` for each signature and maps
  its exceptions to RFC 8601 classes and our reasons' classes;
* it has no as-of time (``time.time()`` with 10 hours of slack): the as-of
  cases patch ``dkim.time.time`` and keep every time days away from the
  slack;
* it passes rsa-sha1 (we answer ``policy``): compared with
  ``allow_sha1=True`` only.

Documented differences, not compared here: an ``l=`` past the end of the
body is a permerror for us (dkimpy hashes what is there and reports a body
hash mismatch); a key of another type than ``a=`` is a permerror for us
(RFC 6376 6.1.2, inappropriate key algorithm), a fail for dkimpy; dkimpy
cannot tell a missing key from a revoked one
(``KeyFormatError`` both), we say permerror "key revoked" or temperror "no
key source"; NXDOMAIN is not a dkimpy outcome.
"""

from __future__ import annotations

import base64
import logging
import re
import socket
import threading
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from _oracles import missing

import mimeflow
from mimeflow import dkim as mdkim

dkim = pytest.importorskip("dkim")

DATA = Path(__file__).resolve().parents[2] / "testdata" / "dkim"
CORPORA = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora"
DOMAIN = "example.org"


def _pub_spki(pem_name: str) -> str:
    """The SubjectPublicKeyInfo of a PEM RSA key, from keys.zone."""
    zone = (DATA / "keys.zone").read_text()
    sel = pem_name.split(".")[0]
    m = re.search(sel + r'\._domainkey[^"]*((?:"[^"]*"\s*)+)', zone, re.S)
    assert m, sel
    return "".join(re.findall(r'"([^"]*)"', m.group(1)))


def _ed_seed() -> bytes:
    """dkimpy's Ed25519 private key form: the base64 of the 32-byte seed,
    here the last 32 bytes of the PKCS#8 DER."""
    pem = (DATA / "ed25519.pem").read_text()
    der = base64.b64decode("".join(l for l in pem.splitlines() if "-----" not in l))
    return base64.b64encode(der[-32:])


KEYS: Dict[str, Tuple[str, bytes, str]] = {
    # selector: (dkimpy algorithm, dkimpy private key, our key text)
    "rsa1024": ("rsa-sha256", (DATA / "rsa1024.pem").read_bytes(), ""),
    "rsa2048": ("rsa-sha256", (DATA / "rsa2048.pem").read_bytes(), (DATA / "rsa2048.pem").read_text()),
    "rsa4096": ("rsa-sha256", (DATA / "rsa4096.pem").read_bytes(), (DATA / "rsa4096.pem").read_text()),
    "ed": ("ed25519-sha256", _ed_seed(), (DATA / "ed25519.pem").read_text()),
}

RECORDS: Dict[str, Optional[str]] = {
    f"{sel}._domainkey.{DOMAIN}": _pub_spki(sel) for sel in ("rsa1024", "rsa2048", "rsa4096")
}
RECORDS[f"ed._domainkey.{DOMAIN}"] = _pub_spki("ed")


def messages() -> Iterator[Tuple[str, bytes]]:
    """Generated mail: folded headers, 8-bit bodies, trailing blank lines,
    CRLF and LF."""
    base = [
        (
            "plain",
            b"From: Ada <ada@example.org>\nTo: b@example.net\nSubject: hello\n"
            b"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <1@example.org>\n\nHi.\n",
        ),
        (
            "folded",
            b"From: Ada\n  <ada@example.org>\nTo: b@example.net,\n\tc@example.net\n"
            b"Subject: a  long\n   folded subject\t\nMessage-ID: <2@example.org>\n\n"
            b"line  with   blanks \t\n\tindented\n",
        ),
        (
            "eightbit",
            "From: Zoë <z@example.org>\nSubject: café\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            "Grüße, ça va ?\n".encode("utf-8"),
        ),
        (
            "trailing",
            b"From: a@example.org\nTo: b@example.net\nSubject: blanks\n\nbody\n\n\n\n",
        ),
        ("empty", b"From: a@example.org\nSubject: nothing\n\n"),
    ]
    for name, msg in base:
        yield name + "-lf", msg
        yield name + "-crlf", msg.replace(b"\n", b"\r\n")


# ---------------------------------------------------------------- adapter


def _dnsfunc(records: Dict[str, Optional[str]]):
    def lookup(name: bytes, timeout: int = 5) -> Optional[bytes]:
        key = name.decode("ascii").rstrip(".").lower()
        txt = records.get(key)
        return None if txt is None else txt.encode("ascii")

    return lookup


class _Errors(logging.Handler):
    """Collects what dkimpy logs at ERROR: the only sign it gives of a key
    it could not parse (a revoked or garbage RSA key) before returning
    False as for a bad signature."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def oracle(msg: bytes, records: Dict[str, Optional[str]]) -> List[Tuple[str, str]]:
    """dkimpy's verdict per signature, as (RFC 8601 class, reason class)."""
    n = len(re.findall(rb"(?im)^dkim-signature\s*:", msg.split(b"\n\n")[0].split(b"\r\n\r\n")[0]))
    out = []
    for idx in range(n):
        errors = _Errors()
        logger = logging.getLogger("test_dkim.oracle")
        logger.addHandler(errors)
        try:
            ok = dkim.DKIM(msg, logger=logger).verify(idx=idx, dnsfunc=_dnsfunc(records))
            if ok:
                out.append(("pass", ""))
            elif any("public key" in m for m in errors.messages):
                out.append(("permerror", "key"))
            else:
                out.append(("fail", "signature"))
        except dkim.ValidationError as e:
            text = str(e)
            if "body hash mismatch" in text:
                out.append(("fail", "body hash"))
            elif "x= value is past" in text:
                out.append(("permerror", "expired"))
            elif "in the future" in text:
                out.append(("permerror", "future"))
            else:
                out.append(("permerror", "other"))
        except dkim.KeyFormatError:
            out.append(("permerror", "key"))
        except (dkim.MessageFormatError, dkim.ParameterError):
            out.append(("permerror", "other"))
        finally:
            logger.removeHandler(errors)
    return out


def ours(msg: bytes, records: Dict[str, Optional[str]], **kw) -> List[Tuple[str, str]]:
    out = []
    for r in mdkim.verify(msg, keys=records, **kw):
        reason = r.reason
        if r.result == "pass":
            cls = ""
        elif "body hash" in reason:
            cls = "body hash"
        elif "signature mismatch" in reason:
            cls = "signature"
        elif reason.startswith("expired"):
            cls = "expired"
        elif "future" in reason:
            cls = "future"
        elif "key" in reason:
            cls = "key"
        else:
            cls = "other"
        out.append((r.result, cls))
    return out


def dkimpy_sign(msg: bytes, sel: str, canon: Tuple[bytes, bytes], length: bool = False) -> bytes:
    alg, priv, _ = KEYS[sel]
    sig = dkim.sign(
        msg,
        sel.encode(),
        DOMAIN.encode(),
        priv,
        canonicalize=canon,
        signature_algorithm=alg.encode(),
        length=length,
        linesep=b"\r\n" if b"\r\n" in msg else b"\n",
    )
    return sig + msg


def mutations(signed: bytes) -> Iterator[Tuple[str, bytes]]:
    nl = b"\r\n" if b"\r\n" in signed else b"\n"
    head, _, body = signed.partition(nl + nl)
    yield "as-signed", signed
    yield "subject-changed", signed.replace(b"Subject: ", b"Subject: Re: ", 1)
    lines = head.split(nl)
    # Reorder two unfolded signed fields (To and Subject lines, if both
    # are single lines).
    idx = {l.split(b":")[0].lower(): i for i, l in enumerate(lines) if b":" in l and not l[:1].isspace()}
    if b"to" in idx and b"subject" in idx:
        i, j = idx[b"to"], idx[b"subject"]
        if all(not lines[k + 1 : k + 2] or not lines[k + 1][:1].isspace() for k in (i, j)):
            swapped = list(lines)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            yield "reordered", nl.join(swapped) + nl + nl + body
    yield "from-added-above", b"From: mallory@evil.example" + nl + signed
    yield "header-whitespace", signed.replace(b"Subject: ", b"Subject:   \t ", 1)
    if body:
        yield "body-whitespace", head + nl + nl + body.replace(nl, b"  " + nl, 1)
    yield "body-appended", signed + b"appended" + nl
    m = re.search(rb"bh=([A-Za-z0-9+/])", signed)
    assert m
    flip = b"A" if m.group(1) != b"A" else b"B"
    yield "bh-flipped", signed[: m.start(1)] + flip + signed[m.end(1) :]
    m = re.search(rb"; b=([A-Za-z0-9+/])", signed) or re.search(rb"\sb=([A-Za-z0-9+/])", signed)
    assert m
    flip = b"A" if m.group(1) != b"A" else b"B"
    yield "b-flipped", signed[: m.start(1)] + flip + signed[m.end(1) :]


CANONS = [(b"relaxed", b"relaxed"), (b"simple", b"simple"), (b"relaxed", b"simple"), (b"simple", b"relaxed")]


@pytest.mark.parametrize("sel", list(KEYS))
def test_verdicts_equal_the_oracle_on_dkimpy_signed_mutations(sel: str) -> None:
    compared = 0
    for name, msg in messages():
        for canon in CANONS:
            for length in (False, True):
                signed = dkimpy_sign(msg, sel, canon, length)
                for mname, m in mutations(signed):
                    want = oracle(m, RECORDS)
                    got = ours(m, RECORDS)
                    assert got == want, (sel, name, canon, length, mname)
                    compared += 1
                    if mname == "as-signed":
                        assert got == [("pass", "")], (sel, name, canon, length)
                    if mname == "body-appended":
                        assert got[0][0] == ("pass" if length and not (name.startswith("empty") and canon[1] == b"simple") else "fail"), (name, canon)
                    if mname == "header-whitespace":
                        assert got[0][0] == ("pass" if canon[0] == b"relaxed" else "fail")
    assert compared > 300


def corpora_messages(count: int = 24) -> List[Tuple[str, bytes]]:
    """A fixed sample of the shared corpora's real mail for signing: files
    up to 32 KB that carry no signature of their own (their signers' keys
    are not the test's), every few files so every source is drawn from."""
    if not CORPORA.is_dir():
        missing("no ../shared/corpora")
    found = []
    paths = []
    for manifest in sorted(CORPORA.glob("*/MANIFEST.tsv")):
        for line in manifest.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                paths.append(manifest.parent / line.split("\t")[0])
    for path in paths:
        if not path.is_file() or path.stat().st_size > 32 << 10:
            continue
        data = path.read_bytes()
        if b"\n\n" not in data.replace(b"\r\n", b"\n") or re.search(
            rb"(?im)^(dkim-signature|arc-[a-z-]+)\s*:", data
        ):
            continue
        found.append((str(path.relative_to(CORPORA)), data))
    step = max(1, len(found) // count)
    return found[::step][:count]


@pytest.mark.parametrize("signer", ["dkimpy", "mimeflow"])
def test_verdicts_equal_the_oracle_on_signed_mutations_of_the_shared_corpora(signer: str) -> None:
    """Real mail signed by either signer, then every mutation: our verdicts
    and their reasons' classes equal the adapter's on every signature."""
    compared = 0
    signed_messages = 0
    for name, msg in corpora_messages():
        for sel in ("rsa2048", "ed"):
            # Our signer writes relaxed/relaxed only.
            canons = [(b"relaxed", b"relaxed"), (b"simple", b"simple")][: 2 if signer == "dkimpy" else 1]
            for canon in canons:
                try:
                    if signer == "dkimpy":
                        signed = dkimpy_sign(msg, sel, canon)
                    else:
                        signed = mdkim.sign(msg, DOMAIN, sel, KEYS[sel][2])
                except (dkim.DKIMException, ValueError):
                    # Mail a signer refuses (no From field; dkimpy: also a
                    # header line that is no field): there
                    # is no signature to compare.
                    continue
                signed_messages += 1
                for mname, m in mutations(signed):
                    want = oracle(m, RECORDS)
                    got = ours(m, RECORDS)
                    assert got == want, (signer, name, sel, canon, mname)
                    compared += 1
                    if mname == "as-signed":
                        assert got == [("pass", "")], (signer, name, sel, canon)
    assert signed_messages >= 30 and compared > 250, (signed_messages, compared)


def test_key_revoked_or_swapped() -> None:
    msg = next(messages())[1]
    for sel in KEYS:
        signed = dkimpy_sign(msg, sel, (b"relaxed", b"relaxed"))
        name = f"{sel}._domainkey.{DOMAIN}"
        revoked = dict(RECORDS)
        revoked[name] = "v=DKIM1; k=" + ("ed25519" if sel == "ed" else "rsa") + "; p="
        assert ours(signed, revoked) == oracle(signed, revoked) == [("permerror", "key")]
        assert mdkim.verify(signed, keys=revoked)[0].reason == "key revoked"
        other = {"ed": "rsa1024", "rsa1024": "rsa2048", "rsa2048": "rsa4096", "rsa4096": "rsa2048"}[sel]
        swapped = dict(RECORDS)
        swapped[name] = RECORDS[f"{other}._domainkey.{DOMAIN}"]
        got, want = ours(signed, swapped), oracle(signed, swapped)
        if sel == "ed":
            # An RSA key for an Ed25519 signature: a documented difference
            # (RFC 6376 6.1.2, "inappropriate key algorithm", is a
            # permerror; dkimpy returns False, a fail).
            assert (got, want) == ([("permerror", "key")], [("fail", "signature")])
            assert "key is rsa, signature is ed25519" in mdkim.verify(signed, keys=swapped)[0].reason
        else:
            assert got == want == [("fail", "signature")]
        # No source holds the key at all: temperror, "no key source".
        missing = {k: v for k, v in RECORDS.items() if k != name}
        r = mdkim.verify(signed, keys=missing)[0]
        assert (r.result, "no key source" in r.reason) == ("temperror", True)


def test_expiry_as_of_with_a_patched_oracle_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import time as _time

    now = int(_time.time())  # before the oracle's clock is patched
    t0 = 1_600_000_000
    day = 86_400
    msg = next(messages())[1]
    for sel in ("rsa2048", "ed"):
        signed = mdkim.sign(msg, DOMAIN, sel, KEYS[sel][2], timestamp=t0, expiration=t0 + 7 * day)
        for when, expect in [(t0 + day, "pass"), (t0 + 30 * day, "permerror"), (t0 - 30 * day, "permerror")]:
            monkeypatch.setattr(dkim.time, "time", lambda: float(when))
            want = oracle(signed, RECORDS)
            got = ours(signed, RECORDS, as_of=when)
            assert got == want and got[0][0] == expect, (sel, when)
        # Without an as-of time nothing is judged; "now" is years later.
        assert mdkim.verify(signed, keys=RECORDS)[0].result == "pass"
        assert mdkim.verify(signed, keys=RECORDS, as_of=now)[0].reason.startswith("expired as of")


def test_as_of_takes_numbers_and_aware_datetimes_only() -> None:
    from datetime import datetime, timedelta, timezone

    t0 = 1_600_000_000
    msg = next(messages())[1]
    signed = mdkim.sign(msg, DOMAIN, "ed", KEYS["ed"][2], timestamp=t0, expiration=t0 + 100)

    def reason(as_of: object) -> str:
        return mdkim.verify(signed, keys=RECORDS, as_of=as_of)[0].reason  # type: ignore[arg-type]

    # Each form of one instant, 101 s after t0: expired, and said so in seconds.
    aware = datetime.fromtimestamp(t0 + 101, timezone(timedelta(hours=5)))
    for when in (t0 + 101, float(t0 + 101) + 0.9, aware):
        assert reason(when) == f"expired as of {t0 + 101} (x={t0 + 100})", when
    # Keyword and positional forms, and as_of=None judging nothing.
    assert mdkim.verify(message=signed, keys=RECORDS, as_of=None)[0].result == "pass"
    assert mdkim.verify(signed, RECORDS, t0 + 50)[0].result == "pass"
    with pytest.raises(ValueError, match="naive datetime"):
        reason(datetime(2020, 1, 1))
    for bad in (True, "1600000000", b"1", [1]):
        with pytest.raises(TypeError, match="as_of must be None, a number or a datetime"):
            reason(bad)
    with pytest.raises(ValueError):
        reason(float("nan"))
    with pytest.raises(OverflowError):
        reason(float("inf"))
    with pytest.raises(OverflowError):
        reason(2**80)
    # sign's times follow the same rule, and errors name the argument.
    for when in (t0, float(t0) + 0.9, datetime.fromtimestamp(t0, timezone.utc)):
        again = mdkim.sign(msg, DOMAIN, "ed", KEYS["ed"][2], timestamp=when, expiration=t0 + 100)
        assert again == signed, when
    with pytest.raises(ValueError, match="^timestamp: a naive datetime"):
        mdkim.sign(msg, DOMAIN, "ed", KEYS["ed"][2], timestamp=datetime(2020, 1, 1))
    with pytest.raises(TypeError, match="^expiration must be None, a number or a datetime, not str"):
        mdkim.sign(msg, DOMAIN, "ed", KEYS["ed"][2], expiration="1")  # type: ignore[arg-type]


def test_sha1_is_policy_and_agrees_when_allowed() -> None:
    msg = next(messages())[1]
    sig = dkim.sign(msg, b"rsa2048", DOMAIN.encode(), KEYS["rsa2048"][1], signature_algorithm=b"rsa-sha1")
    signed = sig + msg
    assert [r.result for r in mdkim.verify(signed, keys=RECORDS)] == ["policy"]
    assert ours(signed, RECORDS, allow_sha1=True) == oracle(signed, RECORDS) == [("pass", "")]
    for _, m in mutations(signed):
        assert ours(m, RECORDS, allow_sha1=True) == oracle(m, RECORDS)


def test_multiple_signatures_each_checked() -> None:
    msg = next(messages())[1]
    once = dkimpy_sign(msg, "rsa2048", (b"relaxed", b"relaxed"))
    twice = mdkim.sign(once, DOMAIN, "ed", KEYS["ed"][2])
    broken = dict(RECORDS)
    broken[f"rsa2048._domainkey.{DOMAIN}"] = RECORDS[f"rsa4096._domainkey.{DOMAIN}"]
    assert ours(twice, broken) == oracle(twice, broken) == [("pass", ""), ("fail", "signature")]


@pytest.mark.parametrize("sel", ["rsa2048", "rsa4096", "ed"])
def test_dkimpy_verifies_our_signatures(sel: str) -> None:
    for name, msg in messages():
        for length in (False, True):
            signed = mdkim.sign(msg, DOMAIN, sel, KEYS[sel][2], body_length=length, timestamp=1_700_000_000)
            assert dkim.DKIM(signed).verify(idx=0, dnsfunc=_dnsfunc(RECORDS)), (sel, name, length)
            assert ours(signed, RECORDS) == [("pass", "")]


def test_rfc_8463_example_and_parsed_messages() -> None:
    msg = (DATA / "rfc8463.eml").read_bytes()
    res = mdkim.verify(mimeflow.parse(msg), keys=DATA / "rfc8463.zone")
    assert [(r.selector, r.result) for r in res] == [("brisbane", "pass"), ("test", "pass")]
    assert res[0].key_source is not None and res[0].key_source.endswith("rfc8463.zone")
    seed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
    assert mdkim.key_record(seed) == "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="


def test_bad_input_never_passes() -> None:
    msg = next(messages())[1]
    signed = mdkim.sign(msg, DOMAIN, "ed", KEYS["ed"][2])
    for bad in [
        signed.replace(b"v=1;", b"v=1; v=1;", 1),
        re.sub(rb"bh=[^;]*;", b"bh=!!!;", signed, count=1),
        signed.replace(b"h=", b"h=" + b"x:" * 30000, 1),
        signed.replace(b"s=ed;", b"s=ed; l=99999;", 1),
    ]:
        r = mdkim.verify(bad, keys=RECORDS)
        assert r[0].result == "permerror" and r[0].reason, r
    garbage = dict(RECORDS)
    garbage[f"ed._domainkey.{DOMAIN}"] = "\x00not a key"
    assert mdkim.verify(signed, keys=garbage)[0].result == "permerror"
    assert mdkim.verify(b"", keys=RECORDS) == []
    with pytest.raises(ValueError):
        mdkim.sign(msg, DOMAIN, "ed", "not a key")
    with pytest.raises(ValueError):
        mdkim.sign(msg, DOMAIN, "rsa", KEYS["rsa1024"][1])


# ---------------------------------------------------------------- DNS


@pytest.fixture
def dns_server() -> Iterator[str]:
    """A dnslib server on loopback serving the test keys; `servfail.` names
    answer SERVFAIL, `silent.` names are never answered, others NXDOMAIN."""
    dnslib = pytest.importorskip("dnslib")
    from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord  # type: ignore[import-untyped]

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except socket.timeout:
                continue
            q = DNSRecord.parse(data)
            name = str(q.q.qname).rstrip(".").lower()
            if name.startswith("silent."):
                continue
            reply = q.reply()
            if name.startswith("servfail."):
                reply.header.rcode = RCODE.SERVFAIL
            elif RECORDS.get(name) is not None and q.q.qtype == QTYPE.TXT:
                txt = str(RECORDS[name]).encode()
                chunks = [txt[i : i + 255] for i in range(0, len(txt), 255)]
                reply.add_answer(RR(q.q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            sock.sendto(reply.pack(), peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield "127.0.0.1:%d" % sock.getsockname()[1]
    finally:
        stop.set()
        t.join()
        sock.close()
    assert dnslib


def test_dns_gives_the_same_results_as_keys(dns_server: str) -> None:
    for sel in KEYS:
        for name, msg in list(messages())[:4]:
            signed = dkimpy_sign(msg, sel, (b"relaxed", b"relaxed"))
            for _, m in mutations(signed):
                live = [(r.result, r.reason) for r in mdkim.verify(m, dns_server=dns_server)]
                offline = [(r.result, r.reason) for r in mdkim.verify(m, keys=RECORDS)]
                assert live == offline, (sel, name)
    r = mdkim.verify(signed, dns_server=dns_server)[0]
    assert r.key_source == "dns"


def test_dkim_keys_read_once_give_the_same_results(dns_server: str) -> None:
    held = mdkim.DkimKeys(RECORDS)
    assert len(held) == len(RECORDS) and "DkimKeys" in repr(held)
    from_zone = mdkim.DkimKeys(DATA / "keys.zone")
    assert len(from_zone) >= 1
    for sel in KEYS:
        for name, msg in list(messages())[:3]:
            signed = dkimpy_sign(msg, sel, (b"relaxed", b"relaxed"))
            for what, m in mutations(signed):
                want = [(r.result, r.reason, r.key_source) for r in mdkim.verify(m, keys=RECORDS)]
                got = [(r.result, r.reason, r.key_source) for r in mdkim.verify(m, keys=held)]
                assert got == want, (sel, name, what)
    # A name the held keys lack goes to the live source when one is named,
    # and the held keys still answer first.
    only_rsa = mdkim.DkimKeys({k: v for k, v in RECORDS.items() if k.startswith("rsa2048.")})
    ed_signed = mdkim.sign(next(messages())[1], DOMAIN, "ed", KEYS["ed"][2])
    assert mdkim.verify(ed_signed, keys=only_rsa)[0].result == "temperror"
    live = mdkim.verify(ed_signed, keys=only_rsa, dns_server=dns_server)[0]
    assert (live.result, live.key_source) == ("pass", "dns")
    rsa_signed = mdkim.sign(next(messages())[1], DOMAIN, "rsa2048", KEYS["rsa2048"][2])
    held_first = mdkim.verify(rsa_signed, keys=only_rsa, dns_server=dns_server)[0]
    assert (held_first.result, held_first.key_source) == ("pass", "keys")
    # A DkimKeys passes through convert's dkim_keys and copies itself.
    assert len(mdkim.DkimKeys(held)) == len(held)
    with pytest.raises(TypeError):
        mdkim.DkimKeys(42)  # type: ignore[arg-type]


def test_dns_failures_follow_rfc_6376_6_1_2(dns_server: str) -> None:
    msg = next(messages())[1]
    for sel, expect in [("nothere", "permerror"), ("servfail", "temperror"), ("silent", "temperror")]:
        signed = mdkim.sign(msg, DOMAIN, sel, KEYS["ed"][2])
        r = mdkim.verify(signed, dns_server=dns_server, dns_timeout=0.2)[0]
        assert r.result == expect, (sel, r)



def test_signed_mail_of_the_shared_corpora_is_temperror_without_keys() -> None:
    """Real signed mail whose keys no offline source holds: temperror with
    a reason (or a permerror where the signature itself is unusable), never
    a crash and never a pass."""
    if not CORPORA.is_dir():
        pytest.skip("no ../shared/corpora")
    signed = 0
    temperror = 0
    for path in sorted(CORPORA.rglob("*")):
        if not path.is_file() or path.stat().st_size > 4 << 20:
            continue
        data = path.read_bytes()
        if not re.search(rb"(?im)^dkim-signature\s*:", data):
            continue
        for r in mdkim.verify(data, keys={}, as_of=None):
            signed += 1
            assert r.result in ("temperror", "permerror", "policy"), (path, r)
            assert r.reason, (path, r)
            temperror += r.result == "temperror"
    assert signed > 0 and temperror > 0, (signed, temperror)


def test_message_builder_dkim_sign(tmp_path: Path) -> None:
    att = tmp_path / "data.bin"
    att.write_bytes(bytes(range(256)) * 800)
    for sel in ("ed", "rsa2048"):
        b = (
            mimeflow.MessageBuilder()
            .from_("Ada <ada@example.org>")
            .to("b@example.net")
            .subject("Grüße")
            .text("Hallo\n\n")
            .attach(str(att))
            .dkim_sign(DOMAIN, sel, KEYS[sel][2])
        )
        built = b.build()
        assert built.startswith(b"DKIM-Signature:")
        assert ours(built, RECORDS) == oracle(built, RECORDS) == [("pass", "")]
        out = tmp_path / f"{sel}.eml"
        b.write_to(str(out))
        streamed = out.read_bytes()
        assert ours(streamed, RECORDS) == oracle(streamed, RECORDS) == [("pass", "")]
    with pytest.raises(ValueError):
        mimeflow.MessageBuilder().dkim_sign(DOMAIN, "s", "not a key")


def _classes(sigs: List[Dict[str, Optional[str]]]) -> List[Tuple[str, str]]:
    """A dkim column's entries as (RFC 8601 class, reason class), as
    ``ours`` classes ``mdkim.verify``'s results."""
    out = []
    for s in sigs:
        reason = s["reason"] or ""
        if s["result"] == "pass":
            cls = ""
        elif "body hash" in reason:
            cls = "body hash"
        elif "signature mismatch" in reason:
            cls = "signature"
        elif "key" in reason:
            cls = "key"
        else:
            cls = "other"
        out.append((s["result"], cls))
    return out


def test_convert_dkim_column_in_parquet_sqlite_and_jsonl(tmp_path: Path) -> None:
    """``convert(dkim=True)``: the column read back with pyarrow, sqlite3
    and json equals dkimpy's verdicts per signature; [] for unsigned mail;
    null without ``dkim``."""
    import json
    import sqlite3

    pq = pytest.importorskip("pyarrow.parquet")
    plain, folded = [m for n, m in messages() if n in ("plain-lf", "folded-lf")]
    msgs = [
        dkimpy_sign(plain, "ed", (b"relaxed", b"relaxed")),
        plain,
        dkimpy_sign(folded, "rsa2048", (b"simple", b"simple")),
        dkimpy_sign(plain, "rsa2048", (b"relaxed", b"relaxed")).replace(b"Hi.", b"Ho."),
        dkimpy_sign(dkimpy_sign(folded, "ed", (b"relaxed", b"simple")), "rsa4096", (b"relaxed", b"relaxed")),
    ]
    box = tmp_path / "signed.mbox"
    box.write_bytes(b"".join(b"From a@example.org Mon Jan  1 00:00:00 2024\n" + m + b"\n" for m in msgs))
    expected = [oracle(m, RECORDS) for m in msgs]
    assert [len(e) for e in expected] == [1, 0, 1, 1, 2]
    assert expected[3] == [("fail", "body hash")]

    def columns(dest: Path, to: str) -> List[Optional[List[Dict[str, Optional[str]]]]]:
        if to == "parquet":
            return pq.read_table(dest).column("dkim").to_pylist()
        if to == "sqlite":
            with sqlite3.connect(dest) as db:
                rows = db.execute("SELECT dkim FROM messages ORDER BY id").fetchall()
            return [None if t is None else json.loads(t) for (t,) in rows]
        return [json.loads(line)["dkim"] for line in dest.read_text().splitlines()]

    for to, name in [("parquet", "o.parquet"), ("sqlite", "o.db"), ("jsonl", "o.jsonl")]:
        dest = tmp_path / f"dkim-{name}"
        mimeflow.convert(str(box), str(dest), to=to, jobs=2, dkim=True, dkim_keys=RECORDS, dkim_as_of="now")
        col = columns(dest, to)
        assert [_classes(c) for c in col] == expected, to
        assert col[1] == [], to
        first = col[0][0]
        assert (first["d"], first["s"], first["a"], first["key_source"]) == (
            DOMAIN,
            "ed",
            "ed25519-sha256",
            "keys",
        ), to
        assert [s["s"] for s in col[4]] == ["rsa4096", "ed"], to

        without = tmp_path / f"plain-{name}"
        mimeflow.convert(str(box), str(without), to=to)
        assert columns(without, to) == [None] * len(msgs), to

    # Keys from a file, read once: the zone's path is the key source.
    dest = tmp_path / "zone.parquet"
    zone = str(DATA / "keys.zone")
    mimeflow.convert(str(box), str(dest), to="parquet", dkim=True, dkim_keys=zone)
    assert pq.read_table(dest).column("dkim").to_pylist()[0][0]["key_source"] == zone

    with pytest.raises(ValueError):
        mimeflow.convert(str(box), str(tmp_path / "m.mbox"), to="mbox", dkim=True)
    with pytest.raises(ValueError):
        mimeflow.convert(str(box), str(tmp_path / "k.jsonl"), to="jsonl", dkim_keys=RECORDS)
    with pytest.raises(ValueError):
        mimeflow.convert(str(box), str(tmp_path / "a.jsonl"), to="jsonl", dkim=True, dkim_as_of="later")
