// The MULTIAPPEND scenario: one client appends 20 messages of 10 MB in one command (RFC 3502),
// as a backup or migration tool does. Peak RssAnon of the proxy over its idle level while the
// messages arrive and go upstream (literals are spooled, never held whole), the time against the
// same command sent to Dovecot directly, and a command whose last message upstream refuses: none
// of its messages may stay.
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDovecot } from '../test/support/dovecot.js';
import { RawImapClient } from '../test/support/raw-client.js';
import { startProxyProcess, type ProxyProcess } from './proxy-process.js';
import { log, median, round } from './util.js';

export const TARGETS = {
  /** Peak RssAnon during the MULTIAPPEND, over the idle level before it. */
  overIdleMb: 20,
};

export interface AppendResults {
  messages: number;
  messageMb: number;
  idleMb: number[];
  peakMb: number[];
  overIdleMb: number[];
  proxyMs: number[];
  directMs: number;
  /** Messages left upstream by a MULTIAPPEND whose last message upstream refused. */
  leftAfterRefusal: number;
}

/** A message of `size` bytes: a header, then lines of text. */
function bigMessage(n: number, size: number): Buffer {
  const header = Buffer.from(`From: bench@example.org\r\nSubject: multiappend ${n}\r\nMessage-ID: <multiappend-${n}@example.org>\r\n\r\n`);
  const line = Buffer.from(`${'0123456789abcdef'.repeat(4)}\r\n`);
  const body = Buffer.alloc(size - header.length);
  for (let at = 0; at < body.length; at += line.length) line.copy(body, at);
  return Buffer.concat([header, body]);
}

/**
 * Sends `APPEND box` with every message as a synchronizing literal, as a client without LITERAL+
 * does, each written with the socket's backpressure; returns the tagged answer and the time.
 */
async function multiAppend(port: number, box: string, messages: Buffer[], lastFlags = ''): Promise<{ tagged: string; ms: number }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  let input = '';
  const waiters: (() => void)[] = [];
  socket.on('data', (d: Buffer) => {
    input += d.toString('latin1');
    for (const wake of waiters.splice(0)) wake();
  });
  const until = async (pattern: RegExp): Promise<string> => {
    for (;;) {
      const match = pattern.exec(input);
      if (match) {
        input = input.slice(match.index + match[0].length);
        return match[0];
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const write = async (data: Buffer | string) => {
    if (!socket.write(data)) await once(socket, 'drain');
  };
  await until(/^\* OK[^\n]*\n/m);
  await write('L LOGIN test pass\r\n');
  await until(/^L OK[^\n]*\n/m);
  const started = performance.now();
  for (const [i, message] of messages.entries()) {
    const flags = i === messages.length - 1 && lastFlags ? ` (${lastFlags})` : '';
    await write(`${i === 0 ? `A APPEND ${box}` : ''}${flags} {${message.length}}\r\n`);
    await until(/^\+[^\n]*\n/m);
    await write(message);
  }
  await write('\r\n');
  const tagged = await until(/^A (OK|NO|BAD)[^\n]*\n/m);
  const ms = performance.now() - started;
  socket.destroy();
  return { tagged: tagged.trim(), ms };
}

async function messageCount(port: number, box: string): Promise<number> {
  const client = await RawImapClient.connect(port);
  await client.login();
  const status = await client.command(`STATUS ${box} (MESSAGES)`);
  client.close();
  return Number(/MESSAGES (\d+)/.exec(status.untagged.map(String).join(' '))?.[1] ?? -1);
}

export async function appendScenario(opts: { messages: number; messageMb: number; runs: number; freshDir: () => string }): Promise<AppendResults> {
  log(`\n== append: MULTIAPPEND of ${opts.messages} messages of ${opts.messageMb} MB`);
  const dovecot = await startDovecot();
  try {
    const messages = Array.from({ length: opts.messages }, (_, i) => bigMessage(i, Math.round(opts.messageMb * 1024 * 1024)));
    const setup = await RawImapClient.connect(dovecot.port);
    await setup.login();
    for (const box of ['Direct', 'Proxied', 'Refused']) await setup.command(`CREATE ${box}`);
    setup.close();
    const directTimes: number[] = [];
    for (let run = 0; run < opts.runs; run++) {
      const direct = await multiAppend(dovecot.port, 'Direct', messages);
      if (!/^A OK/.test(direct.tagged)) throw new Error(`direct MULTIAPPEND: ${direct.tagged}`);
      directTimes.push(direct.ms);
    }
    const result: AppendResults = {
      messages: opts.messages,
      messageMb: opts.messageMb,
      idleMb: [],
      peakMb: [],
      overIdleMb: [],
      proxyMs: [],
      directMs: round(median(directTimes), 0),
      leftAfterRefusal: 0,
    };
    for (let run = 0; run < opts.runs; run++) {
      const proxy: ProxyProcess = await startProxyProcess(['--upstream', `imap://127.0.0.1:${dovecot.port}`, '--data', opts.freshDir(), '--prefetch', 'off'], { sampleMs: 5 });
      try {
        // logged in and idle: the level the MULTIAPPEND is measured against
        const warm = await RawImapClient.connect(proxy.port);
        await warm.login();
        await warm.command('EXAMINE Proxied');
        proxy.resetPeak();
        await sleep(1000);
        const idle = proxy.peakRssAnonMb();
        proxy.resetPeak();
        const appended = await multiAppend(proxy.port, 'Proxied', messages);
        if (!/^A OK \[APPENDUID \d+ \d+:\d+\]/.test(appended.tagged)) throw new Error(`MULTIAPPEND through the proxy: ${appended.tagged}`);
        await sleep(300);
        const peak = proxy.peakRssAnonMb();
        warm.close();
        result.idleMb.push(round(idle, 1));
        result.peakMb.push(round(peak, 1));
        result.overIdleMb.push(round(peak - idle, 1));
        result.proxyMs.push(round(appended.ms, 0));
        log(`run ${run + 1}: idle ${idle.toFixed(1)} MB, peak ${peak.toFixed(1)} MB (+${(peak - idle).toFixed(1)}), ${appended.ms.toFixed(0)} ms (Dovecot directly ${result.directMs} ms)`);
        if (run === 0) {
          // Dovecot refuses keywords longer than 50 characters: the last message is refused
          const refused = await multiAppend(proxy.port, 'Refused', messages.slice(0, 5), 'k'.repeat(60));
          if (/^A OK/.test(refused.tagged)) throw new Error('the refused MULTIAPPEND was accepted');
          result.leftAfterRefusal = await messageCount(dovecot.port, 'Refused');
          log(`a MULTIAPPEND whose last message upstream refuses: ${refused.tagged}; ${result.leftAfterRefusal} messages left upstream`);
        }
      } finally {
        await proxy.stop();
      }
    }
    return result;
  } finally {
    await dovecot.destroy();
  }
}

export function appendMarkdown(r: AppendResults): string[] {
  const worst = Math.max(...r.overIdleMb);
  return [
    `### MULTIAPPEND (${r.messages} messages of ${r.messageMb} MB in one command)`,
    '',
    '| figure | value | target |',
    '| --- | --- | --- |',
    `| peak RssAnon over idle (worst of ${r.overIdleMb.length}) | +${worst} MB (${r.overIdleMb.map((x) => `+${x}`).join(', ')}; idle ${r.idleMb.join(', ')} MB) | <= ${TARGETS.overIdleMb} MB ${worst <= TARGETS.overIdleMb ? 'met' : 'NOT met'} |`,
    `| time through the proxy / Dovecot directly | ${r.proxyMs.join(', ')} / ${r.directMs} ms | |`,
    `| messages left upstream by a MULTIAPPEND whose last message upstream refused | ${r.leftAfterRefusal} | 0 |`,
  ];
}
