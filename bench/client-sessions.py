#!/usr/bin/env python3
"""IMAP client sessions for the scale and nocondstore scenarios (bench/scale.ts, nocondstore.ts), timed on the client side.

  session HOST PORT                  what Thunderbird does on a new profile: SELECT INBOX, then a
                                     UID FETCH 1:* of sizes, flags and the header fields of its list
  latency HOST PORT COUNT            one command at a time on one connection: UID FETCH of FLAGS, of a
                                     header field and of BODY.PEEK[] for messages 1..COUNT (a first
                                     pass, then the timed one); medians per command
  selects HOST PORT COUNT            COUNT sessions in a row, each LOGIN, SELECT INBOX, LOGOUT; the median SELECT
  changed HOST PORT MODSEQ           SELECT INBOX, then UID FETCH 1:* (FLAGS) (CHANGEDSINCE MODSEQ)
  store HOST PORT UIDS FLAG          UID STORE UIDS +FLAGS (FLAG); prints the HIGHESTMODSEQ before
  flags HOST PORT FOLDER             SELECT FOLDER, then UID FETCH 1:* (FLAGS); a digest of every UID
                                     and its flags (\Recent left out: it belongs to the session)
  change HOST PORT FOLDER SPEC       in FOLDER, per ;-separated step of SPEC, `UIDS +FLAGS (...)`,
                                     `UIDS expunge` (UID STORE +FLAGS.SILENT (\Deleted), UID EXPUNGE)
                                     or `N append` (N small messages)

Each prints one JSON object. User test, password pass.
"""
import hashlib, json, re, socket, statistics, sys, time

THUNDERBIRD_FETCH = ('UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date '
                     'Message-ID References In-Reply-To Content-Type)])')


class Client:
    """Raw IMAP over a socket: a command, then every response line (literals read whole) up to its tagged one; counts FETCH responses."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, int(port)))
        self.file = self.sock.makefile('rb', buffering=1 << 20)
        self.tag = 0
        self.file.readline()
        self.command('LOGIN test pass')

    def command(self, text, on_fetch=None):
        self.tag += 1
        tag = b'x%d ' % self.tag
        self.sock.sendall(tag + text.encode() + b'\r\n')
        fetched = 0
        while True:
            line = self.file.readline()
            if not line:
                raise SystemExit(f'connection closed during {text}')
            if re.match(rb'\* \d+ FETCH ', line):
                fetched += 1
                if on_fetch:
                    on_fetch(line)
            while line.endswith(b'}\r\n'):
                literal = re.search(rb'\{(\d+)\}\r\n$', line)
                self.file.read(int(literal.group(1)))
                line = self.file.readline()
            if line.startswith(tag):
                if not line[len(tag):].startswith(b'OK'):
                    raise SystemExit(f'{text}: {line.decode(errors="replace").strip()}')
                return fetched, line


def timed(client, text):
    start = time.perf_counter()
    untagged, _ = client.command(text)
    return time.perf_counter() - start, untagged


def session(host, port):
    start = time.perf_counter()
    client = Client(host, port)
    select, _ = timed(client, 'SELECT INBOX')
    fetch, messages = timed(client, THUNDERBIRD_FETCH)
    total = time.perf_counter() - start
    return {'selectSeconds': select, 'fetchSeconds': fetch, 'totalSeconds': total, 'messages': messages}


def latency(host, port, count):
    client = Client(host, port)
    client.command('SELECT INBOX')
    kinds = {'flags': 'UID FETCH %d (FLAGS)', 'headerField': 'UID FETCH %d BODY.PEEK[HEADER.FIELDS (SUBJECT)]',
             'body': 'UID FETCH %d BODY.PEEK[]'}
    result = {}
    for name, template in kinds.items():
        for uid in range(1, count + 1):
            client.command(template % uid)
        times = [timed(client, template % uid)[0] for uid in range(1, count + 1)]
        result[name + 'Ms'] = statistics.median(times) * 1000
    return result


def selects(host, port, count):
    times = []
    for _ in range(count):
        client = Client(host, port)
        times.append(timed(client, 'SELECT INBOX')[0])
        client.command('LOGOUT')
        client.sock.close()
    return {'selectSeconds': statistics.median(times)}


def changed(host, port, modseq):
    client = Client(host, port)
    select, _ = timed(client, 'SELECT INBOX')
    fetch, messages = timed(client, f'UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq})')
    return {'selectSeconds': select, 'fetchSeconds': fetch, 'messages': messages}


def store(host, port, uids, flag):
    client = Client(host, port)
    client.sock.sendall(b's1 SELECT INBOX (CONDSTORE)\r\n')
    highest = None
    while True:
        line = client.file.readline()
        found = re.search(rb'HIGHESTMODSEQ (\d+)', line)
        if found:
            highest = int(found.group(1))
        if line.startswith(b's1 '):
            break
    client.command(f'UID STORE {uids} +FLAGS.SILENT ({flag})')
    return {'highestModseqBefore': highest}


def flags(host, port, folder):
    client = Client(host, port)
    select, _ = timed(client, f'SELECT "{folder}"')
    seen = {}

    def note(line):
        uid = re.search(rb'UID (\d+)', line)
        listed = re.search(rb'FLAGS \(([^)]*)\)', line)
        if uid and listed:
            seen[int(uid.group(1))] = b' '.join(sorted(f for f in listed.group(1).split() if f.lower() != b'\\recent'))

    start = time.perf_counter()
    messages, _ = client.command('UID FETCH 1:* (FLAGS)', note)
    fetch = time.perf_counter() - start
    digest = hashlib.sha256(b'\n'.join(b'%d %s' % (uid, seen[uid]) for uid in sorted(seen))).hexdigest()
    return {'selectSeconds': select, 'fetchSeconds': fetch, 'messages': messages, 'digest': digest}


def change(host, port, folder, spec):
    client = Client(host, port)
    client.command(f'SELECT "{folder}"')
    for step in spec.split(';'):
        uids, what = step.split(' ', 1)
        if what == 'expunge':
            client.command(f'UID STORE {uids} +FLAGS.SILENT (\\Deleted)')
            client.command(f'UID EXPUNGE {uids}')
        elif what == 'append':
            for i in range(int(uids)):
                message = f'Subject: appended {i}\r\n\r\nbody {i}\r\n'
                client.command(f'APPEND "{folder}" {{{len(message)}+}}\r\n{message}')
        else:
            client.command(f'UID STORE {uids} {what}')
    return {}


if __name__ == '__main__':
    kind, host, port, *rest = sys.argv[1:]
    run = {'session': session, 'latency': lambda h, p, n: latency(h, p, int(n)), 'selects': lambda h, p, n: selects(h, p, int(n)), 'changed': changed, 'store': store, 'flags': flags,
           'change': change}[kind]
    print(json.dumps(run(host, port, *rest)))
