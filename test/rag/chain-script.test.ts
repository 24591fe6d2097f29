import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// bench/rag/chain.sh (the RAG chain behind docs/rag.md "Measured") in --dry-run: it lists every step,
// runs none, and marks a step done when its output exists — the resume rule. The training itself is
// never run here.
const REPO = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..');
const SCRIPT = join(REPO, 'bench', 'rag', 'chain.sh');

function dryRun(dir: string): string[] {
  const out = execFileSync('bash', [SCRIPT, '--dry-run', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out.split('\n').filter((l) => /\] (todo|done) /.test(l));
}

test('chain.sh --dry-run: every stage in order, each from the previous stage; the corpora cover every source the presets name; nothing is run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-chain-'));
  try {
    const lines = dryRun(dir);
    assert.ok(
      lines.every((l) => l.includes('] todo ')),
      'a fresh directory has every step to do',
    );
    const stages = lines.flatMap((l) => {
      const m = / todo {2}(sft-\w) .*--preset (\S+) --from (\S+) --into (\S+) --max-steps (\d+)/.exec(l);
      return m ? [{ stage: m[1], preset: m[2], from: m[3], into: m[4], steps: Number(m[5]) }] : [];
    });
    assert.deepEqual(
      stages.map((s) => `${s.into}:${s.steps}`),
      ['sft-r:875', 'sft-m:250', 'sft-d:1000', 'sft-f:500', 'sft-g:100', 'sft-e:300', 'sft-a:600'],
    );
    assert.equal(stages[0].from, 'base');
    for (let i = 1; i < stages.length; i++) {
      const prev = stages[i - 1];
      assert.equal(stages[i].from, `runs/rag10/${prev.into}/step-${String(prev.steps).padStart(7, '0')}`, `${stages[i].into} starts from ${prev.into}'s last step`);
    }
    // every corpus a stage's preset (or the base's mixture) reads is one the script writes, before that stage
    const index = (re: RegExp): number => lines.findIndex((l) => re.test(l));
    for (const s of stages) {
      const preset = JSON.parse(readFileSync(s.preset, 'utf8')) as { sft: { mixture: { sources: { path: string }[] } } };
      for (const src of preset.sft.mixture.sources) {
        const at = index(new RegExp(`todo {2}corpus ${src.path.replace('runs/', '').replace('.', '\\.')} `));
        assert.ok(at >= 0, `${s.preset} reads ${src.path}, which the script never writes`);
        assert.ok(at < index(new RegExp(`todo {2}${s.stage} `)), `${src.path} is written before ${s.stage}`);
      }
    }
    const mixture = JSON.parse(readFileSync(join(REPO, 'bench', 'rag', 'mixture.rag8.json'), 'utf8')) as { sources: { paths: string[] }[] };
    for (const p of mixture.sources.flatMap((s) => s.paths)) {
      assert.ok(index(new RegExp(`todo {2}corpus ${p.replace('runs/', '').replace('.', '\\.')} `)) < index(/todo {2}base /), `the base's ${p} comes first`);
    }
    // the measurement on the last checkpoint: six draws, each with the system's configuration and the model's own
    const effects = lines.filter((l) => l.includes('todo  effect ') && l.includes('--run runs/rag10/sft-a/step-0000600 '));
    assert.equal(effects.length, 12);
    const seeds = (ls: string[]): (string | undefined)[] => ls.map((l) => /--seed (\d+)/.exec(l)?.[1]);
    const system = effects.filter((l) => l.includes('--min-score 0.74 --extractive --refusal-by-cutoff'));
    assert.deepEqual(seeds(system), ['2024', '7', '11', '13', '17', '23']);
    const model = effects.filter((l) => !/--min-score|--extractive|--refusal-by-cutoff/.test(l));
    assert.deepEqual(seeds(model), ['2024', '7', '11', '13', '17', '23']);
    assert.ok(lines.findIndex((l) => l.includes('todo  effect ')) > index(/todo {2}sft-a /), 'measured after the last stage');
    // a dry run writes no corpus, checkpoint or effect
    assert.deepEqual(readdirSync(join(dir, 'runs')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('chain.sh --dry-run: a step whose output exists is skipped (the resume rule), the others stay to do', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-chain-'));
  try {
    mkdirSync(join(dir, 'runs', 'rag10', 'sft-m', 'step-0000250'), { recursive: true });
    writeFileSync(join(dir, 'runs', 'rag-lookup.jsonl'), '{}\n');
    const lines = dryRun(dir);
    const done = lines.filter((l) => l.includes('] done '));
    assert.equal(done.length, 2, done.join('\n'));
    assert.ok(done.some((l) => l.includes('corpus rag-lookup.jsonl')));
    assert.ok(done.some((l) => l.includes('sft-m ')));
    assert.ok(
      lines.some((l) => /todo {2}sft-r /.test(l)),
      'an earlier stage without its output is still to do',
    );
    assert.ok(lines.some((l) => /todo {2}sft-d .*--from runs\/rag10\/sft-m\/step-0000250/.test(l)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
