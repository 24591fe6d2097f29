// Fails (exit 1) when a tracked text file still holds git merge-conflict markers, naming
// each file and line: Biome checks the code, but a README or a doc with "<<<<<<< HEAD" in it
// would otherwise ship. Run by `npm test` and `npm run lint`.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let files;
try {
  files = execFileSync('git', ['ls-files', '-z'], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\0')
    .filter(Boolean);
} catch {
  process.exit(0); // not a git checkout (an npm tarball): nothing to check
}
const MARKER = /^(<{7} |>{7} |={7}$|\|{7} )/;
const found = [];
for (const f of files) {
  if (/\.(png|jpg|gif|bin|safetensors|gguf|db|lock)$/.test(f) || f === 'package-lock.json') continue;
  let text;
  try {
    text = readFileSync(f, 'utf8');
  } catch {
    continue; // deleted in the working tree
  }
  if (text.includes('\0')) continue; // binary
  const hits = [];
  text.split('\n').forEach((line, i) => {
    if (MARKER.test(line)) hits.push(`${f}:${i + 1}: ${line.slice(0, 60)}`);
  });
  // a lone "=======" is a Markdown heading underline; a conflict has its <<<<<<< or >>>>>>> too
  if (hits.some((h) => /: (<{7}|>{7}) /.test(h))) found.push(...hits);
}
if (found.length) {
  console.error(`merge-conflict markers left in ${found.length} line(s):\n  ${found.join('\n  ')}`);
  process.exit(1);
}
