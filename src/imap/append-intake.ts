import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ProxyError } from '../model/errors.js';
import { APPEND_KEPT_BYTES, MAX_APPEND_MESSAGES, MAX_MAILBOX_LITERAL } from '../model/limits.js';
import type { AppendingMessage } from '../sync/writes.js';
import type { AppendSpool } from './append-spool.js';

/*
 * APPEND and MULTIAPPEND (RFC 3502) as the client sends them: the arguments of each message are
 * parsed as its line arrives, and its literal goes to memory (a small one) or to the command's
 * spool file as it comes (imap-core would buffer it whole). Only once the command is complete
 * and valid do the messages go upstream: a client that stops midway, or a command wrong in its
 * last line, leaves nothing there, and no upstream connection waits on a slow client.
 *
 *   append = "APPEND" SP mailbox 1*append-message       (RFC 3502, with RFC 3516's literal8,
 *   append-message = [SP flag-list] [SP date-time] SP   RFC 6855's UTF8 and RFC 4469's CATENATE)
 *       (literal / literal8 / "UTF8" SP "(" literal8 ")" / "CATENATE" SP "(" part *(SP part) ")")
 *   part = "TEXT" SP literal / "URL" SP astring
 */

/** A literal the client announced at the end of a line: its size, and its bytes as they come. */
export interface IncomingLiteral {
  size: number;
  literal8: boolean;
  body: Readable;
}

/** What the intake needs of the session it runs in. */
export interface AppendTarget {
  /** The folder's path as the proxy names it, from the mailbox name as the client wrote it. */
  normalize(mailbox: string): string;
  /** Appends the messages, all or nothing, once the command is complete. */
  append(path: string, messages: AppendingMessage[]): Promise<unknown>;
  /** Where the literals too large to keep in memory wait. */
  spool: AppendSpool;
  largest: number;
  /** Not logged in: no literal is taken (imap-core refuses the command at its end). */
  refused?: ProxyError;
  /** A CATENATE URL's bytes (RFC 4469: a message or a section of one on this server); NO [BADURL] if none. */
  openUrl(url: string): Promise<{ size: number; body: Readable }>;
  /** Whether the folder exists (a CATENATE into a missing one is answered TRYCREATE before its URLs are read). */
  exists(path: string): Promise<boolean>;
}

/** A piece of a CATENATE message: bytes taken (a TEXT literal), or a URL read at the command's end. */
type CatenatePart = { bytes: KeptBytes } | { url: string };

/** Bytes the intake holds: in memory, or a range of the spool. */
interface KeptBytes {
  size: number;
  open(): Readable;
  /** Their SHA-256, computed as they came. */
  digest: Buffer;
}

/** A message whose arguments are parsed, its content still to come. */
interface MessageArguments {
  flags: string[];
  internalDate?: string;
  utf8: boolean;
}

const SYSTEM_FLAGS = new Set(['\\SEEN', '\\ANSWERED', '\\FLAGGED', '\\DELETED', '\\DRAFT']);
const FLAG = /^\\?[^\s(){%*"\\\]\p{Cc}]+$/u;
const DATE_TIME = /^( \d|\d\d)-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{4} \d\d:\d\d:\d\d [+-]\d{4}$/;
const QUOTED = /^"((?:[^"\\\r\n]|\\["\\])*)"/;
const ATOM = /^[^\s(){%*"\\\p{Cc}]+/u;

const bad = (text: string) => new ProxyError('CLIENT_BAD', text, { clientText: text });

/** One APPEND command of one session, from its first line to its end. */
export class AppendIntake {
  private mailbox: string | undefined;
  /** A message's arguments seen on a line, before its literal. */
  private pending: MessageArguments | undefined;
  /** The last message was sent as `UTF8 (literal8`: its `)` comes next. */
  private closeUtf8 = false;
  private readonly messages: (AppendingMessage | { catenate: CatenatePart[]; args: MessageArguments })[] = [];
  /** The CATENATE list being received; a TEXT literal is due next when `textDue`. */
  private catenate: { args: MessageArguments; parts: CatenatePart[]; textDue: boolean } | undefined;
  /** What is left of APPEND_KEPT_BYTES: messages kept in memory rather than spooled. */
  private keepBudget = APPEND_KEPT_BYTES;
  private failure: ProxyError | undefined;
  /** The literal being taken now (ended if the connection goes). */
  private current: Readable | undefined;
  /** The command is complete: it goes on even if the client leaves. */
  private ended = false;

  constructor(private readonly target: AppendTarget) {}

  /**
   * A line of the command: its text (the first: after `APPEND`), and the literal it ends with.
   * Either the literal is refused (answer at once: the client must not send it), or `taken`
   * resolves once it was taken whole (the parser may then read on).
   */
  line(text: string, literal?: IncomingLiteral): { refused: ProxyError } | { taken: Promise<void> } {
    if (!this.failure) {
      try {
        this.parse(text, literal !== undefined);
      } catch (err) {
        this.fail(err as ProxyError);
        if (literal) return { refused: err as ProxyError };
      }
    }
    if (!literal) return { taken: Promise.resolve() };
    if (this.target.refused) return { refused: this.fail(this.target.refused) };
    if (this.mailbox === undefined) {
      if (literal.size <= MAX_MAILBOX_LITERAL) return { taken: this.takeMailbox(literal) };
      return { refused: this.fail(bad('Mailbox name too long')) };
    }
    if (literal.size > this.target.largest) {
      const text = `Message too large: ${literal.size} bytes, at most ${this.target.largest}`;
      return { refused: this.fail(new ProxyError('CLIENT_REFUSED', text, { clientCode: 'TOOBIG', clientText: text })) };
    }
    if (this.messages.length >= MAX_APPEND_MESSAGES && !this.catenate) {
      return { refused: this.fail(new ProxyError('CLIENT_REFUSED', 'Too many messages in one APPEND', { clientCode: 'LIMIT', clientText: `At most ${MAX_APPEND_MESSAGES} messages in one APPEND` })) };
    }
    return { taken: this.takeMessage(literal) };
  }

  /** The command's end: the messages go upstream. Resolves with what that gave, or rejects with the answer to give. */
  async end(): Promise<unknown> {
    this.ended = true;
    try {
      if (!this.failure && this.catenate) this.fail(bad('CATENATE needs its )'));
      if (!this.failure && this.messages.length === 0) this.fail(bad('APPEND needs a message'));
      if (this.failure) throw this.failure;
      const path = this.target.normalize(this.mailbox as string);
      return await this.target.append(path, await this.assemble(path));
    } finally {
      await this.target.spool.discard();
    }
  }

  /** The connection closed midway: nothing goes upstream. */
  abort(): void {
    if (this.ended) return;
    this.fail(new ProxyError('CLIENT_GONE', 'the client left during APPEND'));
    this.current?.destroy();
    void this.target.spool.discard();
  }

  private fail(err: ProxyError): ProxyError {
    this.failure ??= err;
    return err;
  }

  private parse(text: string, literalFollows: boolean): void {
    let rest = text;
    if (this.closeUtf8) {
      if (!rest.startsWith(')')) throw bad('UTF8 ( needs its )');
      rest = rest.slice(1);
      this.closeUtf8 = false;
    }
    if (this.mailbox === undefined) {
      rest = rest.replace(/^ /, '');
      if (rest === '' && literalFollows) return; // the mailbox name is the literal
      const name = QUOTED.exec(rest) ?? ATOM.exec(rest);
      if (!name) throw bad('APPEND needs a mailbox name');
      // the parser hands bytes on as a binary string; a name may be UTF-8 (UTF8=ACCEPT)
      this.mailbox = Buffer.from(name[1] !== undefined ? name[1].replace(/\\(["\\])/g, '$1') : name[0], 'binary').toString('utf8');
      rest = rest.slice(name[0].length);
    }
    for (;;) {
      if (this.catenate) {
        rest = this.parseCatenate(rest, literalFollows);
        if (this.catenate) return;
        continue;
      }
      if (rest === '' && !literalFollows) return;
      const message: MessageArguments = { flags: [], utf8: false };
      const flags = /^ \(([^()]*)\)/.exec(rest);
      if (flags) {
        message.flags = [...new Set((flags[1] ?? '').split(' ').filter(Boolean).map(checkFlag))];
        rest = rest.slice(flags[0].length);
      }
      const date = /^ "([^"]*)"/.exec(rest);
      if (date) {
        if (!DATE_TIME.test(date[1] ?? '')) throw bad('Invalid date-time in APPEND');
        message.internalDate = date[1] as string;
        rest = rest.slice(date[0].length);
      }
      const catenate = /^ CATENATE \(/i.exec(rest);
      if (catenate) {
        if (this.messages.length >= MAX_APPEND_MESSAGES) throw bad(`At most ${MAX_APPEND_MESSAGES} messages in one APPEND`);
        this.catenate = { args: message, parts: [], textDue: false };
        rest = rest.slice(catenate[0].length - 1);
        continue;
      }
      if (/^ UTF8 \($/i.test(rest)) {
        message.utf8 = true;
        rest = '';
      }
      if (rest !== (literalFollows ? ' ' : '') && !(message.utf8 && rest === '')) throw bad('Invalid APPEND arguments');
      if (!literalFollows) throw bad('APPEND needs a message literal');
      this.pending = message;
      return;
    }
  }

  /** The parts of a CATENATE list on this line; returns what follows its `)`. */
  private parseCatenate(text: string, literalFollows: boolean): string {
    const catenate = this.catenate as NonNullable<typeof this.catenate>;
    let rest = text;
    for (;;) {
      // `(` opens the list, a space comes between parts
      const separator = /^[( ]/.exec(rest);
      if (rest.startsWith(')') && catenate.parts.length > 0) {
        this.messages.push({ catenate: catenate.parts, args: catenate.args });
        this.catenate = undefined;
        return rest.slice(1);
      }
      if (!separator) throw bad('Invalid CATENATE list');
      rest = rest.slice(1);
      const url = /^URL ("((?:[^"\\]|\\.)*)"|[^\s()"]+)/i.exec(rest);
      if (url) {
        catenate.parts.push({ url: url[2] !== undefined ? url[2].replace(/\\(["\\])/g, '$1') : (url[1] as string) });
        rest = rest.slice(url[0].length);
        continue;
      }
      if (/^TEXT $/i.test(rest) && literalFollows) {
        catenate.textDue = true;
        return '';
      }
      throw bad('Invalid CATENATE part');
    }
  }

  private async takeMailbox(literal: IncomingLiteral): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of literal.body) chunks.push(chunk as Buffer);
    this.mailbox = Buffer.concat(chunks).toString('utf8');
  }

  private async takeMessage(literal: IncomingLiteral): Promise<void> {
    if (this.catenate?.textDue) return this.takeText(this.catenate, literal);
    const message = this.pending;
    this.pending = undefined;
    if (message?.utf8 && !literal.literal8) this.fail(bad('UTF8 ( needs a literal8'));
    if (this.failure || !message) return drain(literal.body);
    this.closeUtf8 = message.utf8;
    await this.takeBytes(literal, ({ size, open, digest }) => {
      this.messages.push({ flags: message.flags, size, literal8: literal.literal8, open, digest, ...(message.internalDate ? { internalDate: message.internalDate } : {}) });
    });
  }

  /** A TEXT part of a CATENATE list. */
  private async takeText(catenate: NonNullable<typeof this.catenate>, literal: IncomingLiteral): Promise<void> {
    catenate.textDue = false;
    if (this.failure) return drain(literal.body);
    await this.takeBytes(literal, (bytes) => catenate.parts.push({ bytes }));
  }

  /** Takes a literal whole (keep) and hands it on; a literal cut off or that cannot be spooled fails the command. */
  private async takeBytes(literal: IncomingLiteral, taken: (bytes: KeptBytes) => void): Promise<void> {
    this.current = literal.body;
    try {
      const kept = await this.keep(literal);
      if (kept) taken({ size: literal.size, ...kept });
    } catch (err) {
      this.fail(new ProxyError('INTERNAL', 'an APPEND literal could not be spooled', { cause: err }));
      await drain(literal.body);
    } finally {
      this.current = undefined;
    }
  }

  /**
   * The messages as they go upstream: a CATENATE message's URLs are read now (into the spool,
   * as the client's literals were), its parts then sent one after the other.
   */
  private async assemble(path: string): Promise<AppendingMessage[]> {
    const catenates = this.messages.some((m) => 'catenate' in m && m.catenate.some((part) => 'url' in part));
    if (catenates && !(await this.target.exists(path))) {
      throw new ProxyError('CLIENT_REFUSED', `no folder ${path}`, { clientCode: 'TRYCREATE', clientText: "Mailbox doesn't exist" });
    }
    const spool = this.target.spool;
    const assembled: AppendingMessage[] = [];
    for (const message of this.messages) {
      if (!('catenate' in message)) {
        assembled.push(message);
        continue;
      }
      const parts: KeptBytes[] = [];
      for (const part of message.catenate) {
        if ('bytes' in part) {
          parts.push(part.bytes);
          continue;
        }
        const { size, body } = await this.target.openUrl(part.url);
        const { start, digest } = await spool.write(body);
        parts.push({ size, open: () => spool.read(start, size), digest });
      }
      const joined: AppendingMessage = {
        flags: message.args.flags,
        size: parts.reduce((sum, part) => sum + part.size, 0),
        literal8: false,
        open: () => Readable.from(concatenated(parts)),
      };
      if (message.args.internalDate) joined.internalDate = message.args.internalDate;
      assembled.push(joined);
    }
    return assembled;
  }

  /** Takes a literal's bytes whole, in memory or in the spool; undefined when it was cut off. */
  private async keep(literal: IncomingLiteral): Promise<Omit<KeptBytes, 'size'> | undefined> {
    if (literal.size <= this.keepBudget) {
      this.keepBudget -= literal.size;
      const chunks: Buffer[] = [];
      for await (const chunk of literal.body.iterator({ destroyOnReturn: false })) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      return bytes.length === literal.size ? { open: () => Readable.from([bytes]), digest: createHash('sha256').update(bytes).digest() } : undefined;
    }
    const spool = this.target.spool;
    const { start, digest } = await spool.write(literal.body);
    return this.failure ? undefined : { open: () => spool.read(start, literal.size), digest };
  }
}

async function* concatenated(parts: readonly KeptBytes[]): AsyncGenerator<Buffer> {
  for (const part of parts) for await (const chunk of part.open()) yield chunk as Buffer;
}

function checkFlag(flag: string): string {
  if (!FLAG.test(flag)) throw bad(`Invalid flag in APPEND: ${flag}`);
  if (!flag.startsWith('\\')) return flag;
  if (!SYSTEM_FLAGS.has(flag.toUpperCase())) throw bad(`Invalid system flag in APPEND: ${flag}`);
  return `\\${flag.charAt(1).toUpperCase()}${flag.slice(2).toLowerCase()}`;
}

async function drain(body: Readable): Promise<void> {
  body.resume();
  await finished(body).catch(() => undefined);
}
