import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger };

/**
 * Field names that may carry secrets anywhere in a log object. Message contents never reach
 * the logger at all: neither imap-core's nor imapflow's protocol traces are forwarded
 * (see imapCoreLogger and imapflowLogger).
 */
const SECRET_FIELDS = ['pass', 'password', 'auth', 'credentials', 'accessToken', 'refreshToken', 'clientSecret', 'key'];
const REDACT_PATHS = [...SECRET_FIELDS, ...SECRET_FIELDS.map((field) => `*.${field}`)];

/** The root logger: JSON lines to stdout (or `destination`), human-readable with `pretty`. */
export function createLogger(options: { level: string; pretty?: boolean; destination?: DestinationStream }): Logger {
  const base = { level: options.level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (options.pretty) {
    // loaded only for a terminal: a service or a test never needs its 30-odd modules
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    return pino(base, pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}

type LogArgs = [obj: unknown, msg?: string, ...args: unknown[]];

/**
 * imap-core logs with pino-style (obj, format, ...args) calls. Its debug level prints whole
 * protocol lines (message bytes included), so it is dropped; info and error go to pino.
 */
export function imapCoreLogger(logger: Logger) {
  const child = logger.child({ component: 'imap-core' });
  return {
    info: (...args: LogArgs) => child.debug(...(args as [object, string])),
    debug: () => undefined,
    error: (...args: LogArgs) => child.warn(...(args as [object, string])),
    warn: (...args: LogArgs) => child.warn(...(args as [object, string])),
  };
}

/**
 * imap-core's error reports (WildDuck's GELF messages): a bad command, a failed parse. They carry
 * the client's command line (`_payload`, passwords included) and more: only the error, its code
 * and the session go to the log, at debug.
 */
export function imapCoreErrorReport(logger: Logger) {
  const child = logger.child({ component: 'imap-core' });
  return (report: Record<string, unknown>) => {
    child.debug({ session: report['_sess'], code: report['_code'] }, String(report['_error'] ?? 'error report'));
  };
}

/**
 * imapflow logs protocol lines (server responses with message data included) at debug and
 * trace: those are dropped. Its info lines are connection events, kept at debug, and so is its
 * per-connection warning about a plain connection (the proxy warns once per account instead).
 * An entry with `src` carries protocol data as its text (a server response it could not parse,
 * at error): the text is dropped. A server's NO or BAD, which it logs as a warning or an error, is an
 * answer its caller handles and logs in context (a wrong password is no error): kept at debug.
 */
export function imapflowLogger(logger: Logger) {
  const pick = (entry: Record<string, unknown>) => {
    const { msg, err, cid, src } = entry;
    return { upstreamCid: cid, ...(err ? { err } : {}), msg: typeof msg === 'string' && src === undefined ? msg : undefined };
  };
  const answered = (entry: Record<string, unknown>) => typeof entry['err'] === 'object' && entry['err'] !== null && 'responseStatus' in entry['err'];
  return {
    trace: () => undefined,
    debug: () => undefined,
    // imapflow serialises every command it sends and every response it reads for a level it is
    // not told is off (a 2 MB APPEND literal, 100,000 FETCH responses): most of a cold pull's CPU
    isLevelEnabled: (level: string) => level !== 'trace' && level !== 'debug',
    info: (entry: Record<string, unknown>) => {
      const { msg, ...rest } = pick(entry);
      logger.debug(rest, msg);
    },
    warn: (entry: Record<string, unknown>) => {
      const { msg, ...rest } = pick(entry);
      if (answered(entry) || (msg && /does not support STARTTLS/.test(msg))) logger.debug(rest, msg);
      else logger.warn(rest, msg);
    },
    error: (entry: Record<string, unknown>) => {
      const { msg, ...rest } = pick(entry);
      if (answered(entry)) logger.debug(rest, msg);
      else logger.error(rest, msg);
    },
  };
}
