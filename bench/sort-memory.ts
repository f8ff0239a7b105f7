// The sort scenario's large-folder memory check: sort-memory-child.js over N synthetic messages
// (run with the proxy's process settings) while this process samples the child's RssAnon. Run alone with
//   node dist/bench/sort-memory.js [--messages 1000000]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROCESS_ENV, V8_FLAGS } from '../src/cli/process-settings.js';
import { rssAnonMb } from './proxy-process.js';
import { round } from './util.js';

export interface LargeFolderResult {
  messages: number;
  seconds: number;
  /** RssAnon before the first SORT (store open, nothing read) and the highest while sorting and threading. */
  baselineMb: number;
  peakMb: number;
  /** (peak - baseline) per message. */
  bytesPerMessage: number;
}

const LARGE_FOLDER_CHILD = path.resolve(import.meta.dirname, 'sort-memory-child.js');
/** How often the child's RssAnon is sampled. */
const SAMPLE_MS = 20;

/** Runs sort-memory-child.js over `messages` synthetic messages in `dir` and samples its RssAnon. */
export async function largeFolderMemory(messages: number, dir: string): Promise<LargeFolderResult> {
  // with the proxy's allocator and V8 settings, as the CLI runs it
  const child = spawn(process.execPath, [...V8_FLAGS, LARGE_FOLDER_CHILD, dir, String(messages)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...PROCESS_ENV } });
  let baseline = 0;
  let peak = 0;
  let ms = NaN;
  const timer = setInterval(() => {
    try {
      if (baseline > 0) peak = Math.max(peak, rssAnonMb(child.pid as number));
    } catch {
      // exited
    }
  }, SAMPLE_MS);
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    if (text.includes('ready')) baseline = rssAnonMb(child.pid as number);
    const done = /done (\d+)/.exec(text);
    if (done) ms = Number(done[1]);
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearInterval(timer);
  if (code !== 0 || Number.isNaN(ms)) throw new Error(`sort-memory-child exited with ${code}`);
  return { messages, seconds: round(ms / 1000, 1), baselineMb: round(baseline, 1), peakMb: round(peak, 1), bytesPerMessage: Math.round(((peak - baseline) * 2 ** 20) / messages) };
}

if (import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({ options: { messages: { type: 'string', default: '200000' } } });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sort-memory-'));
  try {
    console.log(await largeFolderMemory(Number(values.messages), dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
