// Anonymous memory of a process (LevelDB maps its table files, so plain RSS counts page cache too).
import { readFileSync } from 'node:fs';

/** RssAnon of `pid` in MB. */
export function rssAnonMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** Samples RssAnon of `pid` every `everyMs` until stopped (or the process is gone). */
export function sampleRssAnon(pid: number, everyMs = 100): { peak(): number; stop(): void } {
  let peak = rssAnonMb(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssAnonMb(pid));
    } catch {
      clearInterval(timer); // the process has ended
    }
  }, everyMs).unref();
  return { peak: () => peak, stop: () => clearInterval(timer) };
}
