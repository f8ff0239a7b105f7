// Small helpers shared by the bench scenarios.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export const run = promisify(execFile);

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

export const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Free space of the file system holding `dir`, in GB (10^9 bytes), from `df`. */
export async function freeDiskGb(dir: string): Promise<number> {
  const { stdout } = await run('df', ['-Pk', dir]);
  const available = Number(stdout.trim().split('\n')[1]?.split(/\s+/)[3]);
  if (!Number.isFinite(available)) throw new Error(`cannot read the free space of ${dir} from df: ${stdout}`);
  return (available * 1024) / 1e9;
}

/** Disk usage of a directory tree in MB, from `du`. */
export async function diskUsageMb(dir: string): Promise<number> {
  const { stdout } = await run('du', ['-sk', dir]);
  return (Number(stdout.split(/\s+/)[0]) * 1024) / 1e6;
}
