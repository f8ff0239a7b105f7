import { ProxyError } from '../model/errors.js';
import { binarySection, fetchItemName, serializeTokens, tokenBytes, tokenString, type AtomToken, type Token } from './imap-tokens.js';

/** One untagged FETCH response from upstream, reduced to what the cache keeps. */
export interface UpstreamFetch {
  seq: number;
  uid: number;
  flags?: string[];
  size?: number;
  internalDate?: string;
  modseq?: string;
  /** Gmail's X-GM-MSGID (X-GM-EXT-1): one id for the message under every label. */
  gmMsgId?: string;
  envelope?: Buffer;
  bodystructure?: Buffer;
  body?: Buffer;
  /** BODY[...] items by their section (`""` for BODY[], `HEADER`, `2.MIME`, ...); null for NIL. */
  sections: Map<string, Buffer | null>;
}

interface UntaggedFetch {
  command: string;
  attributes: Token[];
}

/** `\Recent` belongs to the proxy's own upstream session, never to the client's view. */
const SESSION_FLAGS = new Set(['\\RECENT']);

export function parseUpstreamFetch(untagged: UntaggedFetch): UpstreamFetch {
  const seq = Number(untagged.command);
  const list = untagged.attributes[1];
  if (!Array.isArray(list)) throw new ProxyError('UPSTREAM_PROTOCOL', 'FETCH response without a data list', { context: { seq } });
  const result: UpstreamFetch = { seq, uid: 0, sections: new Map() };
  for (let i = 0; i + 1 < list.length; i += 2) {
    const key = list[i] as AtomToken | null;
    const value = list[i + 1] as Token;
    if (!key || Array.isArray(key) || key.type !== 'ATOM') continue;
    const name = key.value.toUpperCase();
    switch (name) {
      case 'UID':
        result.uid = Number(tokenString(value));
        break;
      case 'FLAGS':
        result.flags = Array.isArray(value)
          ? // a keyword named NIL comes as the parser's null (Dovecot keeps one: STORE +FLAGS NIL)
            value.map((flag) => (flag === null ? 'NIL' : (tokenString(flag) ?? ''))).filter((flag) => flag && !SESSION_FLAGS.has(flag.toUpperCase()))
          : [];
        break;
      case 'RFC822.SIZE':
        result.size = Number(tokenString(value));
        break;
      case 'INTERNALDATE':
        result.internalDate = tokenString(value) ?? undefined;
        break;
      case 'MODSEQ':
        result.modseq = Array.isArray(value) ? (tokenString(value[0]) ?? '0') : '0';
        break;
      case 'X-GM-MSGID':
        result.gmMsgId = tokenString(value) ?? undefined;
        break;
      case 'ENVELOPE':
        result.envelope = serializeTokens(value);
        break;
      case 'BODYSTRUCTURE':
        result.bodystructure = serializeTokens(value);
        break;
      case 'BODY':
      case 'BINARY':
        if (key.section) {
          const itemName = fetchItemName(key);
          const section = itemName.slice(itemName.indexOf('[') + 1, itemName.lastIndexOf(']'));
          result.sections.set(name === 'BINARY' ? binarySection(section) : section, tokenBytes(value));
        } else {
          result.body = serializeTokens(value);
        }
        break;
      default:
        break;
    }
  }
  if (!Number.isInteger(result.uid) || result.uid <= 0) {
    throw new ProxyError('UPSTREAM_PROTOCOL', 'FETCH response without a valid UID', { context: { seq } });
  }
  return result;
}
