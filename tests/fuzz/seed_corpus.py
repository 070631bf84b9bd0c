#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/seed-*.

The seeds are real LMTP sessions (as Postfix's lmtp client and deliver(8) send them, with AUTH,
STARTTLS, BDAT, smuggling attempts and over-long lines), real imapd.conf and cyrus.conf files, and
tricky addresses and mailbox names. Crash inputs found by fuzzing are kept next to them as
crash-<sha1> files (never rewritten here). Run it again after changing a target's input format:
    python3 tests/fuzz/seed_corpus.py
"""
import base64
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- lmtp_session: an 8-byte header (see lmtp_session_fuzz.cc), then the peer's bytes ----

def header(preauth=True, starttls=False, soft=True, munge=False, reject=False, answers=0,
           cmdline=255, rcpts=255, sizes=0, chunk=6, seed=0x173c07):
    b0 = (1 if preauth else 0) | (2 if starttls else 0) | (4 if soft else 0) | \
         (8 if munge else 0) | (16 if reject else 0) | (answers << 5)
    return bytes([b0, cmdline, rcpts, sizes, (chunk & 7) | 0x50,
                  (seed >> 16) & 255, (seed >> 8) & 255, seed & 255])


def crlf(*lines):
    return "".join(l + "\r\n" for l in lines)


MESSAGE = crlf("From: Sender <sender@example.org>", "To: alice@example.com",
               "Subject: test", "Message-ID: <1@example.org>", "Date: Mon, 1 Jan 2024 00:00:00 +0000",
               "", "Hello.", "..a stuffed line", "last line")

postfix = crlf("LHLO mx.example.org", "MAIL FROM:<sender@example.org> SIZE=400 BODY=8BITMIME",
               "RCPT TO:<alice@example.com>", "RCPT TO:<bob+Lists@example.com>",
               "RCPT TO:<nobody@example.com>", "DATA") + MESSAGE + ".\r\n" + crlf("QUIT")
write("lmtp_session", "postfix-session", header() + postfix.encode())
write("lmtp_session", "postfix-session-bytewise", header(chunk=0) + postfix.encode())

pipelined = crlf("LHLO x", "MAIL FROM:<>", "RCPT TO:<alice>", "DATA") + MESSAGE + ".\r\n" + \
    crlf("MAIL FROM:<a@b>", "RCPT TO:<carol@example.com> IGNOREQUOTA", "RCPT TO:<bob@x>", "DATA") + \
    "short\r\n.\r\n" + crlf("RSET", "NOOP", "VRFY alice", "HELP", "QUIT")
write("lmtp_session", "pipelined", header(chunk=5, answers=1) + pipelined.encode())

deliver = crlf("LHLO localhost", "RSET", "MAIL FROM:<root@localhost> AUTH=root+40x BODY=8BITMIME",
               "RCPT TO:<alice>", "DATA") + "Subject: x\r\n\r\nbody\r\n.\r\n" + crlf("QUIT")
write("lmtp_session", "deliver", header(answers=2) + deliver.encode())

bdat = crlf("LHLO x", "MAIL FROM:<s@x>", "RCPT TO:<alice@x>", "RCPT TO:<bob@x>", "BDAT 20") + \
    "Subject: chunk\r\n\r\nab" + "BDAT 9 LAST\r\n" + "cd\r\n.\r\nef" + crlf("BDAT 0 LAST", "QUIT")
write("lmtp_session", "bdat", header(chunk=3) + bdat.encode())

smuggle = crlf("LHLO x", "MAIL FROM:<s@x>", "RCPT TO:<alice@x>", "DATA") + \
    "Subject: one\r\n\r\nbody\n.\nMAIL FROM:<evil@x>\nRCPT TO:<bob@x>\nDATA\nSubject: two\n" + \
    "\r.\rRCPT TO:<carol@x>\r\n" + "x\n.\r\nDATA\r\n" + "\r\n.\r\n" + crlf("QUIT")
write("lmtp_session", "smuggling", header(chunk=4) + smuggle.encode())

long_line = crlf("LHLO x") + "MAIL FROM:<" + "a" * 6000 + "@x>\r\n" + crlf("NOOP", "RCPT TO:<alice>") + \
    "X" * 5000 + "\r" + "\nNOOP\r\n" + crlf("QUIT")
write("lmtp_session", "long-lines", header(cmdline=20, chunk=6) + long_line.encode())

plain = base64.b64encode(b"\0admin\0secret").decode()
bad = base64.b64encode(b"\0admin\0wrong").decode()
auth = crlf("LHLO client", "MAIL FROM:<x@y>", f"AUTH PLAIN {bad}", "AUTH LOGIN",
            base64.b64encode(b"admin").decode(), "*", "AUTH PLAIN", plain, "MAIL FROM:<x@y>",
            "RCPT TO:<alice@x>", "DATA") + "Subject: a\r\n\r\nb\r\n.\r\n" + crlf("AUTH PLAIN =", "QUIT")
write("lmtp_session", "auth", header(preauth=False, starttls=True) + auth.encode())
write("lmtp_session", "auth-delay", header(preauth=False, sizes=0x60) + auth.encode())

tls = crlf("LHLO client", "STARTTLS", "MAIL FROM:<smuggled-before-handshake@x>", "LHLO again",
           f"AUTH PLAIN {plain}", "MAIL FROM:<x@y>", "RCPT TO:<bob@x>", "DATA") + \
    "Subject: t\r\n\r\nb\r\n.\r\n" + crlf("STARTTLS", "QUIT")
write("lmtp_session", "starttls", header(preauth=False, starttls=True, soft=False) + tls.encode())

limits = crlf("LHLO x", "MAIL FROM:<s@x> SIZE=999999999", "MAIL FROM:<s@x> SIZE=100",
              "RCPT TO:<alice@x>", "RCPT TO:<bob@x>", "RCPT TO:<carol@x>", "DATA") + \
    "Subject: big\r\n\r\n" + ("0123456789" * 40 + "\r\n") * 3 + ".\r\n" + crlf("QUIT")
write("lmtp_session", "limits", header(rcpts=1, sizes=2) + limits.encode())

headers = crlf("LHLO x", "MAIL FROM:<s\u00e9@x> SMTPUTF8", "RCPT TO:<alice@\u00e9.example>", "DATA") + \
    "Return-Path: <forged@x>\r\n\tcontinued\r\nSubject: caf\u00e9\r\nBad header line\r\n" + \
    "X: " + "h" * 80 + "\r\n\r\nbody\0nul\r\n.\r\n" + crlf("QUIT")
write("lmtp_session", "headers-8bit", header(munge=True, sizes=0x18) + headers.encode())
write("lmtp_session", "headers-reject8bit", header(reject=True) + headers.encode())

garbage = bytes((i * 73 + 41) % 256 for i in range(3000))
write("lmtp_session", "garbage", header(chunk=5) + crlf("LHLO x").encode() + garbage)

many = crlf("LHLO x", "MAIL FROM:<s@x>") + crlf(*["RCPT TO:<alice@x>"] * 1100) + crlf("DATA") + \
    "s\r\n.\r\n"
write("lmtp_session", "many-recipients", header(chunk=7) + many.encode())

# ---- address: byte 0 selects the parser (see address_fuzz.cc), the rest is the argument ----

def addr_flags(variant, downcase=True, unix_sep=True):
    want = (0x10 if downcase else 0) | (0x20 if unix_sep else 0)
    for b in range(256):
        if b % 6 == variant and (b & 0x30) == want:
            return bytes([b])
    raise ValueError


addresses = [
    (0, "FROM:<sender@example.org> SIZE=1000 BODY=8BITMIME AUTH=<>"),
    (0, "FROM:<@a.example,@b.example:user@c.example> AUTH=user+2Bx+40y"),
    (0, "FROM:<\u00e9t\u00e9@\u00e9.example> SMTPUTF8"),
    (0, "FROM:<> SIZE=99999999999999999999999"),
    (0, "from:<\"quoted \\\" string\"@[192.0.2.1]> body=7BIT"),
    (1, "TO:<alice@example.com>"),
    (1, "TO:<Alice+Lists/Work@example.com> IGNOREQUOTA"),
    (1, "TO:<alice+../../etc@example.com>"),
    (1, "TO:<\"../../etc/passwd\"@example.com>"),
    (1, "TO:<alice+.@x>"),
    (1, "TO:<alice+a/../b@x>"),
    (1, "TO:<\"a\\\x01b\"@x>"),
    (1, "TO:<a!b@x>"),
    (1, "TO:<\"a@b\"@x>"),
    (1, "TO:<alice@[IPv6:::1]>"),
    (2, "TO:<\u00fcser+F\u00f6lder@example.com>"),
    (3, "<@x,@y:z@w> rest"),
    (4, "root+40example.com+2B+3D"),
    (4, "a+0Db"),
    (5, "\xed\xa0\x80 surrogate"),
    (5, "\xf4\x90\x80\x80 too high"),
    (5, "\xc0\xaf overlong"),
    (5, "alice+Inbox.Sub@x"),
]
for i, (variant, text) in enumerate(addresses):
    # Variant 5 seeds are raw bytes (malformed UTF-8 on purpose); the others are UTF-8 text.
    raw = text.encode("latin-1") if variant == 5 else text.encode("utf-8")
    write("address", f"{i:02d}", addr_flags(variant, unix_sep=(i % 3 != 0)) + raw)

# ---- mailbox_name: byte 0 bit 0 is unixhierarchysep, the rest a name ----

names = [
    (1, "user/alice"), (1, "user/alice/Work"), (1, "user/john.doe/a.b"), (0, "user.bob.Sent"),
    (0, "user.john^doe"), (1, "user/alice@example.com"), (0, "user.alice@example.com"),
    (1, "example.com!user.alice.Work"), (1, "user/../etc"), (1, "../../etc!user.x"),
    (1, "a/b!user.x"), (1, "user.a!b"), (1, "user/a@b"), (1, "user/a\x00b"), (1, "user/a\x01b"),
    (1, "/user/alice"), (1, "user//alice"), (1, "user/.."), (0, "user.^^"), (1, "shared/Info"),
    (1, "..!user.x"), (1, "user/alice/" + "x" * 256),
]
for i, (flags, text) in enumerate(names):
    write("mailbox_name", f"{i:02d}", bytes([flags]) + text.encode("latin-1"))

# ---- imap_utf7: byte 0 bit 0 set: UTF-8 to encode; clear: modified UTF-7 to decode ----

for i, (direction, text) in enumerate([
        (1, "Entw\u00fcrfe"), (1, "\u53f0\u5317"), (1, "a&b"), (1, "\U0001f600 smile"), (1, "tab\there"),
        (0, "Entw&APw-rfe"), (0, "&U,BTFw-"), (0, "&-"), (0, "&2D3eAA-"), (0, "&AGE-"), (0, "&Jjo-&Jjo-"),
        (0, "&ZeVnLIqe"), (0, "&2D0-"), (0, "a\x01b")]):
    write("imap_utf7", f"{i:02d}", bytes([direction]) + text.encode("utf-8"))

# ---- settings and services: real files ----

write("settings", "scripts-run", """# Cubby settings (imapd.conf grammar), written by scripts/run.
configdirectory: /var/lib/cubby
defaultpartition: default
partition-default: /var/spool/cubby
servername: mail.example.com
# Where deliver finds lmtpd.
lmtpsocket: /var/lib/cubby/socket/lmtp
""")
write("settings", "cyrus-like", """configdirectory: /var/lib/cyrus
partition-default: /var/spool/cyrus/mail
partition-p2: /srv/mail2
admins: cyrus
lmtp_admins: postman
lmtpunix_admins: root
sasl_pwcheck_method: saslauthd
sasl_mech_list: PLAIN LOGIN
lmtp_sasl_mech_list: PLAIN
allowplaintext: no
lmtp_downcase_rcpt: yes
lmtp_over_quota_perm_failure: no
duplicatesuppression: yes
singleinstancestore: yes
maxmessagesize: 50M
lmtp_max_header_size: 1M
lmtp_max_command_length: 4096
lmtp_max_recipients: 1000
lmtp_idle_timeout: 360s
lmtp_max_connections: 200
lmtp_allow_networks: 127.0.0.0/8, ::1/128, 192.0.2.0/24
unixhierarchysep: yes
virtdomains: off
hashimapspool: true
tls_server_cert: /etc/ssl/cert.pem
tls_server_key: /etc/ssl/key.pem
lmtp_auth_failure_delay: 500ms
lmtp_max_auth_failures: 3
""")
write("settings", "tricky", "  # comment\n\nKEY_WITHOUT_VALUE:\nlmtp_idle_timeout: 99999999999999999d\n"
      "maxmessagesize: 18446744073709551615G\nlmtp_max_recipients: -1\nfoo bar: baz\n"
      "lmtp_lmtp_admins: x\npartition-: /x\nsasl_: y\nservername: a\0b\nunixhierarchysep: maybe\n"
      "lmtp_idle_timeout: 1h\nlmtp_idle_timeout: 5ms\n")

write("services", "scripts-run", """# Cubby services (cyrus.conf grammar), written by scripts/run.
SERVICES {
  # LMTP over a UNIX socket: local peers are trusted.
  lmtpunix  cmd="lmtpd"    listen="/var/lib/cubby/socket/lmtp"  prefork=1
  # LMTP over loopback TCP; -a pre-authenticates every peer, so keep it on 127.0.0.1.
  lmtp      cmd="lmtpd -a" listen="127.0.0.1:2424"        prefork=1
}
""")
write("services", "cyrus-normal", """# standard standalone server implementation

START {
  # do not delete this entry!
  recover	cmd="ctl_cyrusdb -r"
}

# UNIX sockets start with a slash and are put into /run/cyrus/socket
SERVICES {
  lmtp		cmd="lmtpd" listen="lmtp" prefork=0 maxchild=20
  lmtpunix	cmd="lmtpd" listen="/run/cyrus/socket/lmtp" prefork=0 mode=0660 owner=cyrus group=mail
  lmtp6		cmd="lmtpd" listen="[::1]:2003" proto=tcp6 prefork=2 maxchild=4 babysit=true maxfds=256 maxforkrate=5
}

EVENTS {
  # this is required
  checkpoint	cmd="ctl_cyrusdb -c" period=30

  # this is only necessary if using duplicate delivery suppression,
  # Sieve or NNTP
  delprune	cmd="cyr_expire -E 3" at=0400
}

DAEMON {
  idled		cmd="idled" wait=y
}
""")
write("services", "tricky", "SERVICES\n{\nx cmd=\"a # b\" listen=\"\nY cmd=lmtpd listen=1 maxchild=0 prefork=-5\n"
      "y cmd=lmtpd listen=2\n}\nEVENTS { }\nBOGUS {\n}\nEVENTS {\ne cmd=x at=2460 period=-1\n}\n")
