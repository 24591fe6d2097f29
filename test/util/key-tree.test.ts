import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { keysOf } from '../../src/util/key-tree.js';
import { DEFAULT_RL } from '../../src/train/rl.js';

// dist/test/util/ → the package root, where the TypeScript sources are
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The compiler's errors for one in-memory module (beside the sources, so it imports them by their path), line (0-based) and text. */
function typeErrors(source: string): { line: number; text: string }[] {
  const name = join(root, 'test', 'util', 'key-tree-snippet.ts');
  const options: ts.CompilerOptions = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, lib: ['lib.es5.d.ts'], types: [] };
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (f, lang, ...rest) => (f === name ? ts.createSourceFile(f, source, lang) : read(f, lang, ...rest));
  const program = ts.createProgram([name], options, host);
  const file = program.getSourceFile(name)!;
  return program.getSemanticDiagnostics(file).map((d) => ({ line: file.getLineAndCharacterOfPosition(d.start!).line, text: ts.flattenDiagnosticMessageText(d.messageText, ' ') }));
}

test('KeyTree: the compiler refuses a key list that misses a field of its type (optional ones too) or names one the type lacks', () => {
  const errors = typeErrors(
    [
      "import type { KeyTree } from '../../src/util/key-tree.js';",
      'interface Section { lr: number; logEvery?: number; sub?: { k: number }; list: string[] }',
      'export const full: KeyTree<Section> = { lr: null, logEvery: null, sub: { k: null }, list: null };',
      'export const unchecked: KeyTree<Section> = { lr: null, logEvery: null, sub: null, list: null };',
      'export const missing: KeyTree<Section> = { lr: null, sub: null, list: null };',
      'export const extra: KeyTree<Section> = { lr: null, logEvery: null, sub: null, list: null, lr2: null };',
      'export const deep: KeyTree<Section> = { lr: null, logEvery: null, sub: { k: null, j: null }, list: null };',
    ].join('\n'),
  );
  assert.deepEqual(
    errors.map((e) => e.line),
    [4, 5, 6],
    JSON.stringify(errors),
  );
  assert.match(errors[0].text, /'logEvery' is missing/);
  assert.match(errors[1].text, /'lr2' does not exist/);
  assert.match(errors[2].text, /'j' does not exist/);
});

test('keysOf: the key list of a defaults object is its own keys, each a leaf', () => {
  const keys = keysOf(DEFAULT_RL);
  assert.deepEqual(Object.keys(keys), Object.keys(DEFAULT_RL));
  assert.ok(Object.values(keys).every((v) => v === null));
});
