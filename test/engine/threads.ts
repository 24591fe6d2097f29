/**
 * CPU seconds of this process's threads other than the main one (Linux: /proc/self/task/<tid>/stat,
 * 10 ms ticks): the pool's worker, V8's and libuv's helpers. Used by the pool tests to see whether
 * the worker sleeps or spins; needs Linux /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';

export function otherThreadsCpu(): number {
  let sec = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    sec += (Number(f[11]) + Number(f[12])) / 100; // utime, stime (fields 14, 15), in USER_HZ ticks
  }
  return sec;
}
