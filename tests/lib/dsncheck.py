#!/usr/bin/python3
"""dsncheck.py - parse a delivery status notification and print its facts as JSON.

Usage: dsncheck.py [FILE]      (reads standard input without FILE or with "-")

Parses the message with the standard library's email package and checks
that it is a DSN as RFC 3464 describes it: multipart/report with
report-type=delivery-status and exactly three parts (text/plain,
message/delivery-status, then text/rfc822-headers or message/rfc822), a
per-message group with Reporting-MTA and at least one recipient group, each
with Final-Recipient, Action and Status.  It prints one JSON object:

  {"to", "from", "subject", "auto_submitted", "message_id", "boundary",
   "per_message": {field: value},          e.g. "reporting_mta", "arrival_date"
   "recipients": [{"final_recipient", "action", "status", "diagnostic_code",
                   "remote_mta", ... every other field of the group}],
   "original_type", "has_original_headers": bool}

Field names are lower-cased with "-" turned into "_"; values are unfolded.
The five recipient keys above are always present (null when the field is
absent).  Exit status 0, or 1 (with the reason on stderr) when the structure
is wrong, 2 on a usage error.
"""
import email
import email.header
import email.policy
import json
import re
import sys

RCPT_KEYS = ("final_recipient", "action", "status", "diagnostic_code", "remote_mta")
ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
STATUS_RE = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


class DsnError(Exception):
    """The message is not a well-formed DSN."""


def unfold(value):
    """Return a header value with its folding (CRLF before white space) removed,
    raw 8-bit octets (RFC 6532 UTF-8) decoded as UTF-8."""
    if isinstance(value, email.header.Header):
        text = "".join(b.decode("utf-8", "replace") if isinstance(b, bytes) else b
                       for b, _ in email.header.decode_header(value))
    else:
        text = str(value)
    return re.sub(r"\r?\n(?=[ \t])", "", text).strip()


def key(name):
    """Return a field name as a JSON key: lower case, '-' as '_'."""
    return name.lower().replace("-", "_")


def group_dict(block):
    """Return the fields of one delivery-status group as a dict."""
    out = {}
    for name, value in block.items():
        k = key(name)
        if k in out:
            raise DsnError("field %s repeated in a group" % name)
        out[k] = unfold(value)
    return out


def check_status_groups(part):
    """Return (per_message, recipients) of a message/delivery-status part."""
    groups = part.get_payload()
    if not isinstance(groups, list):
        raise DsnError("delivery-status part did not parse into groups")
    groups = [g for g in groups if len(g.keys()) > 0]
    if len(groups) < 2:
        raise DsnError("delivery-status part has %d group(s), want >= 2" % len(groups))
    per_message = group_dict(groups[0])
    if "reporting_mta" not in per_message:
        raise DsnError("no Reporting-MTA in the per-message group")
    recipients = []
    for g in groups[1:]:
        r = group_dict(g)
        for need in ("final_recipient", "action", "status"):
            if need not in r:
                raise DsnError("recipient group without %s: %r" % (need, r))
        if r["action"].lower() not in ACTIONS:
            raise DsnError("bad Action %r" % r["action"])
        if not STATUS_RE.match(r["status"]):
            raise DsnError("bad Status %r" % r["status"])
        for k in RCPT_KEYS:
            r.setdefault(k, None)
        recipients.append(r)
    return per_message, recipients


def original_headers(part):
    """Return True if the third part carries at least one original header field."""
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list):
            inner = inner[0] if inner else None
        return inner is not None and len(inner.keys()) > 0
    text = part.get_payload(decode=True) or b""
    inner = email.message_from_bytes(text, policy=email.policy.compat32)
    return len(inner.keys()) > 0


def check(raw):
    """Parse the DSN in RAW (bytes) and return its facts as a dict."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    if msg.defects:
        raise DsnError("message defects: %s" % msg.defects)
    if msg.get_content_type() != "multipart/report":
        raise DsnError("not multipart/report but %s" % msg.get_content_type())
    if msg.get_param("report-type") != "delivery-status":
        raise DsnError("report-type is %r" % msg.get_param("report-type"))
    parts = msg.get_payload()
    if not isinstance(parts, list) or len(parts) != 3:
        raise DsnError("want 3 parts, got %s" % (len(parts) if isinstance(parts, list) else 0))
    for p in parts:
        if p.defects:
            raise DsnError("part defects: %s" % p.defects)
    if parts[0].get_content_type() != "text/plain":
        raise DsnError("part 1 is %s" % parts[0].get_content_type())
    if parts[1].get_content_type() != "message/delivery-status":
        raise DsnError("part 2 is %s" % parts[1].get_content_type())
    third = parts[2].get_content_type()
    if third not in ("text/rfc822-headers", "message/rfc822"):
        raise DsnError("part 3 is %s" % third)
    per_message, recipients = check_status_groups(parts[1])
    return {
        "to": unfold(msg["To"]) if msg["To"] is not None else None,
        "from": unfold(msg["From"]) if msg["From"] is not None else None,
        "subject": unfold(msg["Subject"]) if msg["Subject"] is not None else None,
        "auto_submitted": unfold(msg["Auto-Submitted"])
        if msg["Auto-Submitted"] is not None else None,
        "message_id": unfold(msg["Message-ID"]) if msg["Message-ID"] is not None else None,
        "boundary": msg.get_boundary(),
        "per_message": per_message,
        "recipients": recipients,
        "original_type": third,
        "has_original_headers": original_headers(parts[2]),
    }


def main(argv):
    """Read the message named in ARGV (or stdin), print JSON; the exit status."""
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        sys.stderr.write("usage: dsncheck.py [FILE]\n")
        return 2
    try:
        if len(argv) == 2 and argv[1] != "-":
            with open(argv[1], "rb") as f:
                raw = f.read()
        else:
            raw = sys.stdin.buffer.read()
    except OSError as e:
        sys.stderr.write("dsncheck: %s\n" % e)
        return 2
    try:
        facts = check(raw)
    except DsnError as e:
        sys.stderr.write("dsncheck: not a valid DSN: %s\n" % e)
        return 1
    except Exception as e:  # a parser surprise is a structure error too
        sys.stderr.write("dsncheck: cannot parse: %r\n" % e)
        return 1
    json.dump(facts, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
