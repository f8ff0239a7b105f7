import { MAX_LIST_PATTERN } from '../model/limits.js';
import { commandModule, type ImapToken } from './imap-core.js';

interface Answer {
  response: 'OK' | 'BAD';
  message: string;
}

type Argument = ImapToken | ImapToken[] | undefined;

/** The value of a plain argument (atom, string, literal); undefined for a list or NIL. */
const valueOf = (arg: Argument) => (Array.isArray(arg) || arg?.value === undefined || arg.value === null ? undefined : String(arg.value));

const PATTERN_TOO_LONG: Answer = { response: 'BAD', message: 'Mailbox name pattern too long' };
const tooLong = (args: Argument[]) => args.reduce((sum, arg) => sum + (valueOf(arg)?.length ?? 0), 0) > MAX_LIST_PATTERN;

/**
 * Inputs that make imap-core's command modules throw (which ended the process before the proxy
 * contained such exceptions), answered before they reach it. A check gets the command's
 * arguments and returns the answer, or nothing to let imap-core handle the command.
 */
const CHECKS: Record<string, (args: Argument[]) => Answer | undefined> = {
  // imap-core turns the pattern into a regular expression, and V8 refuses one that large
  list: (args) => (tooLong(args) ? PATTERN_TOO_LONG : undefined),
  // ... and for an empty mailbox name it hands its listing code one entry where it expects a
  // list; there is nothing to list (Dovecot answers a plain OK too)
  lsub: (args) => (tooLong(args) ? PATTERN_TOO_LONG : !valueOf(args[1]) ? { response: 'OK', message: 'LSUB completed' } : undefined),
  // imap-core reads the capabilities without checking that there are any
  enable: (args) => (args.length === 0 ? { response: 'BAD', message: 'ENABLE needs at least one capability' } : undefined),
  // imap-core takes the first argument's value as the mailbox name, whatever the argument
  append: (args) => (valueOf(args[0]) === undefined ? { response: 'BAD', message: 'APPEND needs a mailbox name first' } : undefined),
};

let installed = false;

export function installCommandFixes(): void {
  if (installed) return;
  installed = true;
  for (const [file, check] of Object.entries(CHECKS)) {
    const mod = commandModule(file);
    const original = mod.handler;
    mod.handler = function (command, callback, next) {
      const answer = check((command as { attributes?: Argument[] }).attributes ?? []);
      if (answer) return callback(null, answer);
      original.call(this, command, callback, next);
    };
  }
}
