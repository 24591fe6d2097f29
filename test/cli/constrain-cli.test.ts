import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { schemaConstraint } from '../../src/infer/constrain/index.js';
import type { TokenConstraint } from '../../src/infer/constraint.js';
import { ajvValidator } from '../constrain/ajv.js';
import { CLI, writeTinyPreset } from './fixture.js';

const run = (args: string[], input?: string) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input });

/** Feed `text` to `c` token by token: did every token pass, and is the value complete? */
function walk(c: TokenConstraint, tok: Tokenizer, text: string): { prefix: boolean; complete: boolean } {
  for (const id of tok.encodeOrdinary(text)) if (!c.advance(id)) return { prefix: false, complete: false };
  return { prefix: true, complete: c.isComplete() };
}

const SCHEMA = {
  type: 'object',
  properties: { ok: { type: 'boolean' }, n: { type: 'integer', minimum: 0, maximum: 9 }, tag: { enum: ['a', 'b'] } },
  required: ['ok', 'n'],
  additionalProperties: false,
};

// One tiny base model trained for one step (its logits are nearly uniform, so only the constraint
// makes the output valid); the context is widened to 128 so a whole value fits.
test('sample and chat with --json-schema, --regex, --grammar: valid output, finish reason length when cut, bad input refused', { timeout: 300_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-constrain-cli-'));
  try {
    const presetFile = writeTinyPreset(join(root, 'in'), { maxSteps: 1 });
    const preset = JSON.parse(readFileSync(presetFile, 'utf8')) as { model: { blockSize: number } };
    preset.model.blockSize = 128;
    writeFileSync(presetFile, JSON.stringify(preset));
    const runDir = join(root, 'run');
    const pre = run(['pretrain', '--preset', presetFile, '--run', runDir, '--quiet', '--no-samples']);
    assert.equal(pre.status, 0, pre.stderr);
    const tok = Tokenizer.fromJSON(readFileSync(join(runDir, 'tokenizer.json'), 'utf8'));
    const schemaFile = join(root, 'schema.json');
    writeFileSync(schemaFile, JSON.stringify(SCHEMA));
    const valid = ajvValidator(SCHEMA);

    // JSON schema: every sample is valid under ajv, or (cut by the limit) a valid prefix with the finish reason printed
    let completed = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = run(['sample', '--run', runDir, '--prompt', 'the', '--json-schema', schemaFile, '--max-tokens', '90', '--seed', String(seed)]);
      // exit status 3 exactly when the value did not complete (its reason on stderr)
      assert.equal(r.status, /finish_reason/.test(r.stderr) ? 3 : 0, r.stderr);
      // with a constraint stdout is the value alone (no echoed prompt), ready for a parser
      const text = r.stdout.replace(/\n$/, '');
      const w = walk(schemaConstraint(SCHEMA, tok), tok, text);
      assert.ok(w.prefix, `seed ${seed}: not even a prefix of a valid value: ${JSON.stringify(text)}`);
      if (/finish_reason: (length|context)/.test(r.stderr)) {
        assert.equal(w.complete, false, `seed ${seed}: reported incomplete but complete: ${JSON.stringify(text)}`);
      } else {
        assert.doesNotMatch(r.stderr, /finish_reason/);
        const v = JSON.parse(text) as unknown;
        assert.ok(valid(v), `seed ${seed}: ajv rejects ${text}`);
        completed++;
      }
    }
    assert.ok(completed >= 3, `only ${completed}/5 samples completed within 90 tokens`);

    // cut by --max-tokens: finish reason length on stderr, the text a valid prefix, never complete
    const cut = run(['sample', '--run', runDir, '--prompt', 'the', '--json-schema', schemaFile, '--max-tokens', '3']);
    assert.equal(cut.status, 3, cut.stderr);
    assert.match(cut.stderr, /finish_reason: length/);
    const w = walk(schemaConstraint(SCHEMA, tok), tok, cut.stdout.replace(/\n$/, ''));
    assert.deepEqual(w, { prefix: true, complete: false });

    // one JSON sample: on one line, at most one space between tokens (whitespace 'line' by default;
    // 'flexible' let a near-uniform model write newlines and runs of spaces)
    for (const seed of [1, 2, 3]) {
      const one = run(['sample', '--run', runDir, '--prompt', 'the', '--json-schema', schemaFile, '--max-tokens', '90', '--seed', String(seed)]);
      assert.match(one.stdout, /^[^\n]*\n$/, `seed ${seed}: ${JSON.stringify(one.stdout)}`);
      assert.doesNotMatch(one.stdout, /\s\s|\t/, `seed ${seed}: ${JSON.stringify(one.stdout)}`);
    }

    // several JSON samples: one value a line (whitespace 'line' by default)
    const many = run(['sample', '--run', runDir, '--prompt', 'the', '--json-schema', schemaFile, '-n', '3', '--max-tokens', '90']);
    assert.equal(many.status, /finish_reason/.test(many.stderr) ? 3 : 0, many.stderr);
    assert.equal(many.stdout.replace(/\n$/, '').split('\n').length, 3, many.stdout);

    // regex: every one of several samples matches in full
    const rx = run(['sample', '--run', runDir, '--prompt', 'the', '--regex', '(ab|cd)+-[0-9]{2}', '-n', '4', '--max-tokens', '40']);
    assert.equal(rx.status, 0, rx.stderr);
    // one value a line on stdout; the separators on stderr
    const outs = rx.stdout.replace(/\n$/, '').split('\n');
    assert.equal(outs.length, 4, rx.stdout);
    for (const o of outs) assert.match(o, /^(ab|cd)+-[0-9]{2}$/);
    assert.equal((rx.stderr.match(/^--- sample \d\/4$/gm) ?? []).length, 4, rx.stderr);

    // GBNF grammar
    const gbnf = join(root, 'yn.gbnf');
    writeFileSync(gbnf, 'root ::= ("yes" | "no") " " [0-9]\n');
    const g = run(['sample', '--run', runDir, '--prompt', 'the', '--grammar', gbnf, '--max-tokens', '20']);
    assert.equal(g.status, 0, g.stderr);
    assert.match(g.stdout, /^(yes|no) [0-9]\n$/);
    // --echo puts the prompt back in front
    const ge = run(['sample', '--run', runDir, '--prompt', 'the', '--grammar', gbnf, '--max-tokens', '20', '--echo']);
    assert.equal(ge.status, 0, ge.stderr);
    assert.match(ge.stdout, /^the(yes|no) [0-9]\n$/);

    // chat, one-shot and interactive: the reply is constrained
    // (--no-tools: an untrained model may open a calculator call before the text, shown on stdout)
    const c1 = run(['chat', '--run', runDir, '--stage', 'base', '--prompt', 'hi', '--regex', '[0-9]{3}', '--max-tokens', '20', '--no-tools']);
    assert.equal(c1.status, 0, c1.stderr);
    assert.match(c1.stdout, /^[0-9]{3}\n$/);
    const c2 = run(['chat', '--run', runDir, '--stage', 'base', '--json-schema', schemaFile, '--max-tokens', '90', '--no-tools'], 'hello\nagain\n/quit\n');
    assert.equal(c2.status, 0, c2.stderr);
    // piped, stdout holds the replies alone, one a line (a JSON reply stays on its line: whitespace 'line')
    const replies = c2.stdout.replace(/\n$/, '').split('\n');
    assert.equal(replies.length, 2, c2.stdout);
    const incomplete = (c2.stderr.match(/finish_reason: length/g) ?? []).length;
    const parsed = replies.filter((s) => walk(schemaConstraint(SCHEMA, tok), tok, s).complete);
    for (const s of parsed) assert.ok(valid(JSON.parse(s)), s);
    assert.equal(parsed.length + incomplete, 2, c2.stderr);
    const cutChat = run(['chat', '--run', runDir, '--stage', 'base', '--prompt', 'hi', '--json-schema', schemaFile, '--max-tokens', '2', '--no-tools']);
    assert.equal(cutChat.status, 3, cutChat.stderr);
    assert.match(cutChat.stderr, /finish_reason: length/);
    // cut at the limit in an accepting state (one token of digits: end of turn is not allowed before it) is complete
    const cutWhole = run(['chat', '--run', runDir, '--stage', 'base', '--prompt', 'hi', '--regex', '[0-9]+', '--max-tokens', '1', '--no-tools']);
    assert.equal(cutWhole.status, 0, cutWhole.stderr);
    assert.match(cutWhole.stdout, /^[0-9]+\n$/);
    assert.match(cutWhole.stderr, /finish_reason: length \(cut at --max-tokens; the reply matches the constraint in full/);

    // bad input: an invalid schema names the file and the pointer; two constraints at once; --stop with one
    const bad = join(root, 'bad.json');
    writeFileSync(bad, JSON.stringify({ type: 'object', properties: { a: { type: 'strin' } } }));
    for (const cmd of ['sample', 'chat']) {
      const b = run([cmd, '--run', runDir, '--stage', 'base', '--prompt', 'the', '--json-schema', bad]);
      assert.equal(b.status, 1);
      assert.equal(b.stdout, '');
      assert.ok(b.stderr.includes(bad) && b.stderr.includes('/properties/a/type'), b.stderr);
      const two = run([cmd, '--run', runDir, '--stage', 'base', '--prompt', 'the', '--json-schema', schemaFile, '--regex', 'a+']);
      assert.equal(two.status, 1);
      assert.match(two.stderr, /at most one of --json-schema, --regex, --grammar/);
    }
    const syntax = join(root, 'syntax.json');
    writeFileSync(syntax, '{\n  "type": "object",\n  "properties": {,}\n}\n');
    const s = run(['sample', '--run', runDir, '--prompt', 'the', '--json-schema', syntax]);
    assert.equal(s.status, 1);
    assert.ok(s.stderr.includes(`${syntax}:3`), s.stderr);
    const empty = join(root, 'empty.json');
    writeFileSync(empty, JSON.stringify({ type: 'integer', minimum: 5, maximum: 3 }));
    const e = run(['sample', '--run', runDir, '--prompt', 'the', '--json-schema', empty]);
    assert.equal(e.status, 1);
    assert.equal(e.stdout, '');
    assert.ok(e.stderr.includes(empty) && /no JSON value satisfies this schema/.test(e.stderr), e.stderr);
    const badRx = run(['sample', '--run', runDir, '--prompt', 'the', '--regex', '(ab|cd']);
    assert.equal(badRx.status, 1);
    assert.match(badRx.stderr, /--regex.*missing \)/);
    const badG = join(root, 'bad.gbnf');
    writeFileSync(badG, 'root ::= "a"\nother ::= [z-a\n');
    const bg = run(['sample', '--run', runDir, '--prompt', 'the', '--grammar', badG]);
    assert.equal(bg.status, 1);
    assert.ok(bg.stderr.includes(`${badG}:2`), bg.stderr);
    const stop = run(['sample', '--run', runDir, '--prompt', 'the', '--regex', 'a+', '--stop', 'a']);
    assert.equal(stop.status, 1);
    assert.match(stop.stderr, /--stop cannot be combined/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
