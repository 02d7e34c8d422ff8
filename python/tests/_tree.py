"""The source of a parsed message rebuilt from its entity tree.

``Message.to_bytes()`` is the source itself, so comparing it with the input
tests nothing. ``rebuild`` instead puts the message back together from what
the tree says: each entity's header block and body (``Part.raw()`` and
``Part.body()``), and for a multipart the preamble, the delimiter lines
between its parts, the parts themselves and the close delimiter, checking
each piece is what the RFC 2046 grammar says it is. A wrong body range, a
part that starts or ends off its delimiter, or a lost part makes the result
differ from the source (or an assertion fail inside). One copy, used by every
test that checks a "byte-exact round trip".
"""


def _delimiter_line(line, boundary, close=False):
    """Whether ``line`` is "--boundary" (plus "--" when ``close``) followed
    only by transport padding and its line end (RFC 2046 §5.1.1)."""
    head = b"--" + boundary + (b"--" if close else b"")
    return line.startswith(head) and not line[len(head):].strip(b" \t\r\n")


def header_block_len(raw):
    """Where the body of an entity whose bytes are ``raw`` starts: just after
    the first empty line (LF or CRLF; RFC 5322 §2.1), or, with none, at the
    end (the entity is all header). Written apart from the parser, as the
    oracle for its body ranges."""
    for eol in (b"\r\n", b"\n"):
        if raw.startswith(eol):
            return len(eol)
    at = 0
    while True:
        nl = raw.find(b"\n", at)
        if nl < 0:
            return len(raw)
        for eol in (b"\r\n", b"\n"):
            if raw.startswith(eol, nl + 1):
                return nl + 1 + len(eol)
        at = nl + 1


def rebuild(part):
    """``part`` rebuilt from the tree: its header block, then a leaf's body,
    a carried message, or a multipart's preamble, delimiter lines, parts and
    close delimiter. Asserts each piece is what the grammar says it is: the
    body starts where the header block ends (``header_block_len``), a part
    starts right after its delimiter line, a carried message is the body."""
    raw, body = part.raw(), part.body()
    assert raw.endswith(body), "part %r: body is not the end of raw()" % part.section
    head = raw[: len(raw) - len(body)]
    assert len(head) == header_block_len(raw), "part %r: the body starts at %d, the header block ends at %d" % (
        part.section,
        len(head),
        header_block_len(raw),
    )
    children = part.children
    if part.kind == "leaf":
        assert not children
        return head + body
    if part.kind == "message":
        assert len(children) == 1 and children[0].raw() == body, part.section
        return head + rebuild(children[0])
    # A boundary cannot end in a blank (bcharsnospace): trailing blanks of
    # the parameter are transport padding on the delimiter lines.
    boundary = dict(part.params)["boundary"].encode("utf-8", "surrogateescape").rstrip(b" \t")

    def skip_delimiters(pos):
        """The end of the delimiter lines starting at ``pos`` (at least one)."""
        first = pos
        while True:
            nl = body.find(b"\n", pos)
            line = body[pos:] if nl < 0 else body[pos : nl + 1]
            if not line or not _delimiter_line(line, boundary):
                break
            pos += len(line)
        assert pos > first, "part %r: no delimiter line at %d: %r" % (part.section, first, body[first:first + 80])
        return pos

    out, at = [head], 0
    for i, child in enumerate(children):
        if i == 0:
            # The preamble runs to the first line that is a delimiter.
            pos = 0
            while not _delimiter_line(body[pos:body.find(b"\n", pos) + 1 or len(body)], boundary):
                nl = body.find(b"\n", pos)
                assert nl >= 0, "part %r: no opening delimiter" % part.section
                pos = nl + 1
        else:
            # The line end before a delimiter belongs to it.
            eol = 2 if body.startswith(b"\r\n", at) else 1 if body.startswith(b"\n", at) else 0
            assert eol, "part %r: no line end before part %r" % (part.section, child.section)
            pos = at + eol
        found = skip_delimiters(pos)
        craw = child.raw()
        assert body.startswith(craw, found), "part %r: part %r does not follow its delimiter" % (
            part.section,
            child.section,
        )
        out += [body[at:found], rebuild(child)]
        at = found + len(craw)
    tail = body[at:]
    after = tail[1 if tail.startswith(b"\n") else 2:] if tail.startswith((b"\n", b"\r\n")) else None
    closed = after is not None and _delimiter_line(after.splitlines(keepends=True)[0] if after else b"", boundary, True)
    # A close delimiter right after a delimiter line ends an empty part: the
    # one line end between them ended the first line, so none precedes it.
    if children and not children[-1].raw() and tail:
        closed = closed or _delimiter_line(tail.splitlines(keepends=True)[0], boundary, True)
    unclosed = any(code in ("missing_close_delimiter", "parts_limit") for code, _ in part.defects)
    assert closed or unclosed, "part %r: %r holds no close delimiter" % (part.section, tail[:80])
    out.append(tail)
    return b"".join(out)
