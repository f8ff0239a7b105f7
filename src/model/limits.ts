/**
 * Every size, count and time bound of the proxy, with the reason beside it.
 * Memory is bounded by design: each buffer or queue below has a fixed upper size.
 */

/** Bodies are stored in LevelDB in chunks of this size: `get` copies a whole value, so a value
 * must never be a whole large message. 256 KiB kept peak memory flat for 50 MB bodies. */
export const BODY_CHUNK_SIZE = 256 * 1024;

/** Sections are fetched upstream as partials of at most this size: imapflow holds each literal of
 * a response whole in memory, so this bounds it. Many messages go in one UID FETCH (their first
 * partial each); longer ones continue piece by piece, one round trip per piece, large enough that
 * a 25 ms link still moves data most of the time. */
export const UPSTREAM_PARTIAL_SIZE = 2 * 1024 * 1024;

/** A full garbage collection is started after this many body bytes written while at least this
 * much Buffer memory is held (cache/gc-pacer.ts). */
export const GC_PACE_BYTES = 24 * 1024 * 1024;

/** A young-generation collection is started after this many body bytes read or written
 * (cache/gc-pacer.ts). At 6 MB and more, V8 again ran a full collection every 10 MB served. */
export const MINOR_GC_PACE_BYTES = 4 * 1024 * 1024;

/** A full garbage collection is started after this many units of FETCH responses parsed from
 * upstream: 1 a response, plus 1 per UPSTREAM_GC_PACE_BYTES_PER_UNIT of its first 4 KB (cache/gc-pacer.ts). */
export const UPSTREAM_GC_PACE_UNITS = 25_000;
export const UPSTREAM_GC_PACE_BYTES_PER_UNIT = 256;

/** Appended messages cached from the spool: a full collection every this many of their bytes
 * (their Buffers are all spent then; left to V8, a MULTIAPPEND of 20 x 10 MB peaked 3-4 MB higher). */
export const STORED_GC_PACE_BYTES = 16 * 1024 * 1024;

/** Upper bounds of one batched body fetch. */
export const BODY_BATCH_MAX_MESSAGES = 200;
export const BODY_BATCH_MAX_BYTES = 8 * 1024 * 1024;

/** How far the body fetcher reads ahead of the last body a client asked for, per folder. The
 * window starts small (a client opening one message costs little more than that message) and
 * doubles while the client keeps reading forward, up to enough to keep every upstream
 * connection busy over a 25 ms link. */
export const READ_AHEAD_MIN_BYTES = 1024 * 1024;
export const READ_AHEAD_MAX_BYTES = 12 * 1024 * 1024;

/** Bodies fetched ahead of a client are kept in memory up to this many bytes, so the client is
 * served them without reading back what was just written to LevelDB (sync/fresh-bodies.ts). */
export const FRESH_BODIES_BYTES = 16 * 1024 * 1024;
export const READ_AHEAD_MESSAGES = 2000;

/** Metadata fetched upstream is written to LevelDB in batches of this many messages. */
export const META_WRITE_BATCH = 500;

/** Without CONDSTORE upstream, a full sync compares every message's flags with upstream's in
 * ranges of this many messages, newest first: one `UID FETCH a:b (FLAGS)` each (about 35 bytes a
 * message), the cached metadata of the next range read meanwhile (two ranges' records in memory). */
export const FLAG_SCAN_BATCH = 5000;

/** Without CONDSTORE upstream, IDLE's news of a flag change (FETCH FLAGS of the message at a
 * sequence number) is looked for in the cached messages around that number, from this many before
 * it (expunges the cache took on before upstream told the watching session, or after) to this
 * many after; more such news at once than the maximum makes a full sync. */
export const FLAG_WINDOW_BEFORE = 256;
export const FLAG_WINDOW_AFTER = 16;
export const FLAG_WINDOWS_MAX = 16;

/** Without CONDSTORE upstream, a quick sync finds expunged messages by counting (sync/expunge-finder.ts):
 * up to this many sample UIDs per command, this many per span of the folder that lost messages; a
 * span this small is listed whole instead; more messages gone than this are found by listing. */
export const EXPUNGE_PROBES = 1024;
export const EXPUNGE_PROBES_PER_SPAN = 32;
export const EXPUNGE_LIST_MAX = 256;
export const EXPUNGE_FIND_MAX = 1000;

/** Metadata is read from LevelDB at most this many records at a time (cache-store.ts), and read
 * for a whole folder (a status from the cache, the background sync's sizes) in batches this big. */
export const METADATA_SCAN_BATCH = 1000;

/** An offline SEARCH matches this many messages at a time (their metadata in one read). */
export const SEARCH_BATCH = 500;

/** An offline SEARCH reads at most this much of a message's header block. */
export const SEARCH_HEADER_MAX = 256 * 1024;

/** A FETCH answer is built for this many messages at a time (one LevelDB read for their
 * metadata, one upstream round trip for whatever is missing). */
export const FETCH_RESPONSE_BATCH = 250;

/** Small FETCH response lines are joined into one write of at most this size. */
export const RESPONSE_COALESCE_BYTES = 64 * 1024;

/** A folder status seen upstream (LIST-STATUS, STATUS, SELECT) this recently is trusted by the
 * next SELECT without another round trip: a client that lists and then selects each folder
 * (mbsync, Thunderbird) costs one round trip for all folders, not one per folder. */
export const STATUS_FRESH_MS = 3_000;

/** A folder with at least this many messages, already selected on an upstream connection, is
 * brought up to date after a NOOP instead of being selected again: Dovecot re-reads a folder's
 * index on every open once the session has LISTed, about 1 ms per 1,000 messages (100 ms for
 * 100,000). A smaller one gets the NOOP only where that is likely all it takes, or the fetch of
 * what changed follows either way (folder.ts); else it is selected again: one round trip, which
 * across the internet (20-50 ms) costs more than the open. */
export const RESELECT_MAX_MESSAGES = 10_000;

/** A sync that changed nothing writes the folder's record (its time of last sync) at most this often. */
export const LAST_SYNC_WRITE_MS = 60_000;

/** Without NOTIFY upstream, folders that clients have selected (other than INBOX, which IDLE
 * watches) are asked for their STATUS this often, so changes reach clients within 2 s. */
export const WATCH_POLL_MS = 1_500;
/** ... and of the folders NOTIFY sessions watch, this many per poll, in turn. */
export const WATCH_POLL_NOTIFIED = 10;
/** ... and every other cached folder, one STATUS at a time, every `poll-interval` (configurable;
 * this is the default) while the account changes, twice as long after each round that found
 * nothing, up to the maximum: an account left alone costs a round of STATUS every 10 minutes. */
export const DEFAULT_POLL_INTERVAL_MS = 60_000;
export const WATCH_POLL_BACKOFF_MAX_MS = 10 * 60_000;

/** A watcher that lost its upstream connection retries after this, doubling up to the maximum. */
export const WATCH_RETRY_MIN_MS = 1_000;
export const WATCH_RETRY_MAX_MS = 60_000;

/** Changes reported for one folder within this time are handled together. */
export const WATCH_DEBOUNCE_MS = 50;

/** The background sync works in batches of this many messages, this many batches at a time (the
 * pool also keeps one connection free for clients). */
export const PREFETCH_BATCH_MESSAGES = 200;
export const PREFETCH_WORKERS = 2;

/** Progress of the background sync is logged at most this often (and at each folder's end). */
export const PREFETCH_PROGRESS_MS = 10_000;

/** An interrupted background sync (upstream gone) is tried again after this. */
export const PREFETCH_RETRY_MS = 30_000;

/** Upstream connections per account (configurable; this is the default). */
export const DEFAULT_UPSTREAM_CONNECTIONS = 4;

/** Upstream connections per account with the Gmail preset: Gmail refuses a 16th connection of an
 * account ("Too many simultaneous connections") and counts the user's phone and other clients too. */
export const GMAIL_UPSTREAM_CONNECTIONS = 10;

/** Bytes the background sync of a Gmail account downloads a day at most: Gmail allows about
 * 2.5 GB of IMAP download a day and then locks IMAP out for hours; the rest is the clients'. */
export const GMAIL_PREFETCH_BUDGET = 2 * 1024 ** 3;

/** The bytes downloaded today are written to the cache at most this often (and at shutdown): a
 * crash forgets at most this much of the count. */
export const DOWNLOAD_SAVE_MS = 10_000;

/** A throttle answer without a number (Gmail's [THROTTLED], a "rate limit" NO) pauses the
 * account's commands this long, doubling with each such answer in a row up to the maximum. */
export const THROTTLE_DEFAULT_MS = 1_000;
export const THROTTLE_DEFAULT_MAX_MS = 60_000;

/** The longest pause taken from a hint: Microsoft 365 asks for up to 5 minutes; a longer number
 * (a broken hint) is not waited out for hours, the next answer says again. */
export const THROTTLE_MAX_MS = 30 * 60_000;

/** Each wait for a pause gets up to this part more (at most THROTTLE_JITTER_MAX_MS), so the
 * connections that waited do not all send at the same moment. */
export const THROTTLE_JITTER = 0.1;
export const THROTTLE_JITTER_MAX_MS = 5_000;

/** A client's command waits at most this long for a pause upstream asked for (all its upstream
 * commands together); past it the client gets NO [UNAVAILABLE] at once, not a hang: mbsync gives
 * up on a server silent for 20 s by default. Background work waits the whole pause. */
export const THROTTLE_CLIENT_WAIT_MS = 15_000;

/** The server locked the account out (Gmail: "Account exceeded command or bandwidth limits",
 * for up to a day): the account's upstream commands and logins pause this long, doubling while
 * the server still refuses after a pause, up to the maximum; one try each time, not a storm that
 * could keep the lock on. */
export const LOCKOUT_MIN_MS = 5 * 60_000;
export const LOCKOUT_MAX_MS = 4 * 60 * 60_000;

/** After upstream refused a connection while none of the account's was open (too many
 * connections, a throttled login), the next connect waits this long, doubling up to the maximum. */
export const REFUSED_RETRY_MIN_MS = 2_000;
export const REFUSED_RETRY_MAX_MS = 5 * 60_000;

/** After upstream refused another connection while some were open (its connection limit), the
 * pool works with those for this long before it tries one more, doubling while refused again. */
export const CONNECTION_LIMIT_HOLD_MS = 60_000;
export const CONNECTION_LIMIT_HOLD_MAX_MS = 30 * 60_000;

/** An idle upstream connection is logged out after this long. */
export const UPSTREAM_IDLE_CLOSE_MS = 10 * 60_000;

/** After a failed connect, requests that need upstream fail at once for this long (then it is
 * tried again): a client gets NO [UNAVAILABLE] without waiting. */
export const UPSTREAM_RETRY_MS = 2_000;

/** A client request that needs upstream waits at most this long for a connection when none is
 * open (upstream gone silent): then it gets NO [UNAVAILABLE]. */
export const CLIENT_UPSTREAM_WAIT_MS = 1_000;

/** A login waits this long for upstream before checking the stored password hash instead. */
export const LOGIN_UPSTREAM_WAIT_MS = 2_000;

/** Connect + greeting + login upstream must finish within this time. */
export const UPSTREAM_CONNECT_TIMEOUT_MS = 15_000;

/** A watching connection renews its IDLE this often (servers drop an IDLE after 30 minutes). */
export const UPSTREAM_IDLE_RENEW_MS = 5 * 60_000;

/** An IDLE that ended at once (upstream cannot idle now) is tried again after this: no spinning. */
export const IDLE_RETRY_MS = 100;

/** A connection being closed waits this long for upstream to answer its LOGOUT. */
export const UPSTREAM_LOGOUT_WAIT_MS = 2_000;

/** UID sets upstream reports (MODIFIED, VANISHED) are expanded to at most this many UIDs. */
export const MAX_REPORTED_UIDS = 10_000_000;

/** At shutdown, a client gets this long to take what is still queued for it after its BYE. */
export const SHUTDOWN_FLUSH_MS = 300;

/** SIGTERM / SIGINT: the process exits this long after the signal at the latest, done or not (a
 * service manager kills what takes longer; LevelDB's log keeps every write that completed). */
export const SHUTDOWN_DEADLINE_MS = 1_800;

/** At shutdown, work on upstream connections gets this long to fail and clean up after itself
 * once its connection is closed. */
export const POOL_DRAIN_MS = 5_000;

/** Unix socket paths are limited (108 bytes on Linux, 104 on macOS). */
export const MAX_SOCKET_PATH = 100;

/** The largest message a client may APPEND (advertised as APPENDLIMIT). Literals are streamed
 * upstream, never held whole; upstream may have a limit of its own. Configurable
 * (max-message-size); this is the default. A bigger announcement gets NO [TOOBIG] before a byte
 * of it is read. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

/** imap-core accepts APPEND literals up to 1 MB whatever its limit says: a lower setting would
 * promise what it does not do. */
export const MIN_MAX_MESSAGE_SIZE = 1024 * 1024;

/** A client's command line (the text up to LF, outside literals) longer than this gets
 * `* BAD Command line too long` and is skipped up to its end, unread; the session goes on.
 * Configurable (max-line-length); long UID sets of real clients stay far below the default. */
export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

/** The shortest line limit that can be set: LOGIN with long credentials must still fit. */
export const MIN_MAX_LINE_LENGTH = 1024;

/** The messages of one APPEND wait for the command's end in memory up to this many bytes
 * together; the rest in a spool file. */
export const APPEND_KEPT_BYTES = 256 * 1024;

/** The APPEND spool is written this many bytes at a time, in one call: each file system call costs
 * a trip through libuv's thread pool, and the spool's calls were 10% of the event loop's time under
 * imaptest's stress with large messages. */
export const SPOOL_IO_BYTES = 256 * 1024;

/** Messages in one MULTIAPPEND. */
export const MAX_APPEND_MESSAGES = 10_000;

/** A mailbox name sent as a literal in APPEND (the one literal of APPEND held in memory). */
export const MAX_MAILBOX_LITERAL = 1024;

/** All the literals of one command together are bounded by the message size plus this: a
 * command with many literals would otherwise be buffered whole, however large, before imap-core
 * looks at its arguments. APPEND's messages do not count: they are streamed. */
export const COMMAND_LITERALS_SLACK = 1024 * 1024;

/** LIST and LSUB patterns (reference and mailbox name together) longer than this are refused:
 * imap-core compiles a pattern into a regular expression, and V8 refuses one of some 30,000
 * characters by throwing, which ended the process. Folder names are far shorter. */
export const MAX_LIST_PATTERN = 1024;

/** Mailbox names in one NOTIFY (SUBTREE and MAILBOXES together): each change of a folder is
 * matched against them; more is answered NO [NOTIFICATIONOVERFLOW] (Dovecot's limit too). */
export const MAX_NOTIFY_MAILBOXES = 100;

/** Mailboxes with a NOTIFY response owed to one session at once (one STATUS and one LIST each at
 * most): past it the session gets NOTIFICATIONOVERFLOW and no more (RFC 5465 5.8). */
export const MAX_NOTIFY_PENDING = 1000;

/** Client connections at once, in total and from one address (configurable; the defaults).
 * Clients on this machine all come from 127.0.0.1, so the per-address limit must leave room for
 * many of them: Thunderbird alone opens up to 5 per account. */
export const DEFAULT_MAX_CONNECTIONS = 500;
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 250;

/** A client connection without any traffic for this long is closed (configurable; the default).
 * imap-core keeps IDLE-ing connections alive by itself. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;

/** A connection that has not logged in within this time is closed (configurable; the default):
 * a connection that never logs in only holds a slot. */
export const DEFAULT_LOGIN_TIMEOUT_MS = 60_000;

/** Failed logins for one user (or from one address) before further attempts must wait: a client
 * retrying a stale password must not get the upstream account locked. One address serves every
 * local client, so it may fail more often than one user before it has to wait. */
export const LOGIN_FAILURES_PER_USER = 5;
export const LOGIN_FAILURES_PER_IP = 20;

/**
 * The delay of an attempt after the last allowed failure, doubling with each further failure up
 * to the maximum: a guessing run slows to one try per user every 10 s, and the owner typing the
 * right password waits at most that long (clients give up on a login after about 30-60 s).
 */
export const LOGIN_BACKOFF_MIN_MS = 1_000;
export const LOGIN_BACKOFF_MAX_MS = 10_000;

/** Failures older than this are forgotten (a user who mistyped once an hour ago starts afresh). */
export const LOGIN_FAILURES_FORGET_MS = 15 * 60_000;

/** Users and addresses the login throttle remembers, each; the least recently failed are
 * dropped first, so random user names cannot grow it. */
export const LOGIN_THROTTLE_ENTRIES = 10_000;

/** Chunks read per round trip to LevelDB while streaming or checking a section: 1 MB in memory at most. */
export const CHUNKS_PER_READ = 4;

/** cache verify lists at most this many problems (all are counted, and repaired). */
export const MAX_LISTED_PROBLEMS = 1000;

/** cache verify reads this many section records per metadata lookup. */
export const VERIFY_BATCH = 64;

/** cache verify counts the references to at most this many stored contents per pass over the
 * section records (a map of their ids: about 7 MB); a cache with more takes several passes. */
export const REF_COUNT_BUCKET = 50_000;

/** Chunks of second copies (dropped once their hash showed the body stored) are compacted away at
 * most this many at a time (64 MB): a stop waits for the compaction that runs. */
export const RECLAIM_CHUNKS = 256;

/** A dropped folder generation's section records are deleted this many at a time, each batch
 * with the references it drops (a restart resumes with the rest). */
export const GARBAGE_BATCH = 500;

/** Message metadata records read per miss beyond as many as were asked for, in UID order. */
export const META_READ_AHEAD = 256;

/** Folder generations with a read-ahead window of each kind at once (concurrent clients in different folders). */
export const READ_AHEAD_WINDOWS = 8;

/** A FETCH of at most this many messages reads the section records (header blocks kept whole,
 * where bodies are) of SECTION_READ_AHEAD messages from the first one, at most
 * SECTION_READ_AHEAD_RECORDS records (a kept header block is at most SECTION_INLINE_MAX: a window
 * is at most 4 MB, typically 200 KB). */
export const SECTION_READ_AHEAD_ASKED = 4;
/** ... and only for a client reading in order: its first UID at most this far after its last one. */
export const READ_AHEAD_FOLLOWS = 4;
export const SECTION_READ_AHEAD = 64;
export const SECTION_READ_AHEAD_RECORDS = 256;

/** Writes are grouped into LevelDB batches of about this size while the previous one runs. */
export const WRITE_GROUP_BYTES = 1024 * 1024;

/** Writers of a LevelDB database wait (backpressure to whatever produces the bytes) while this much is queued. */
export const WRITE_QUEUE_BYTES = 8 * 1024 * 1024;

/** A section this small (a header block fetched alone, a small MIME part) is kept whole in its
 * record in the metadata database, and so is a copy of a whole message's header block this
 * small: header fetches, which clients build their message lists from, then read one record per
 * message and no chunks. Most header blocks are 1-8 KB; a FETCH batch holds at most
 * FETCH_RESPONSE_BATCH of these. */
export const SECTION_INLINE_MAX = 16 * 1024;

/** HEADER.FIELDS: header blocks up to this size are filtered in memory; larger ones are streamed twice. */
export const FIELDS_IN_MEMORY = 1024 * 1024;

/** An admin request line longer than this is not an admin request. */
export const MAX_ADMIN_REQUEST_BYTES = 64 * 1024;

/** An admin command waits this long for the proxy's answer (cache verify: as long as it runs). */
export const ADMIN_TIMEOUT_MS = 30_000;

/** A folder list this recent is served without asking upstream again. */
export const LIST_FRESH_MS = 2_000;

/** A folder's update journal keeps this many changes for sessions that have not fetched them yet; the oldest go first. */
export const JOURNAL_CAPACITY = 20_000;

/**
 * A CHANGEDSINCE the journal cannot answer reads the cache's modseq index when at most this many
 * messages changed; beyond that, every message's record (in batches, as a FETCH of all of them).
 */
export const CHANGED_INDEX_LIMIT = 20_000;

/** A generated certificate is long-lived: users trust it by hand, once (a Thunderbird exception, a keychain entry). */
export const CERTIFICATE_VALIDITY_YEARS = 5;

/** Messages whose sort and thread keys are read from the cache, or fetched from upstream, at a time. */
export const SORT_KEY_BATCH = 500;

/**
 * An OAuth2 access token is refreshed when less than this part of its lifetime is left, or
 * less than a minute: a connection opened with it then still logs in, clocks a little apart.
 */
export const ACCESS_TOKEN_REFRESH_PART = 0.25;
export const ACCESS_TOKEN_REFRESH_MARGIN_MS = 60_000;

/**
 * A section of at most this many bytes in one chunk is read from LevelDB on the main thread: a
 * read through libuv's thread pool costs a thread wake-up and two context switches (about as
 * much as the rest of a one-message FETCH), a read of a few KB from LevelDB's cache or the page
 * cache a few microseconds (section-reader.ts).
 */
export const SYNC_READ_MAX = 64 * 1024;
