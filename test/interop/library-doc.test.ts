import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import ts from 'typescript';

/**
 * docs/library.md's examples type-check as a user compiles them: strict, noUncheckedIndexedAccess,
 * ESM (NodeNext), against the built package's .d.ts through its name ('gptforge', the exports map).
 * The page's ```ts block is the shared prelude; every table example that reads as code (a code
 * span starting `gf.`, `await gf.`, `const `, `new gf.`, `for await`, `engine.`) is checked in
 * its own block after it, so one that uses a name it never defines fails here.
 */
const root = fileURLToPath(new URL('../../../', import.meta.url));

function examples(md: string): { prelude: string; snippets: { line: number; code: string }[] } {
  const block = /```ts\n([\s\S]*?)```/.exec(md);
  assert.ok(block?.[1], 'docs/library.md has its ```ts prelude');
  const snippets: { line: number; code: string }[] = [];
  md.split('\n').forEach((text, i) => {
    if (!text.startsWith('|')) return;
    for (const m of text.matchAll(/`((?:[^`\\]|\\.)+)`/g)) {
      const code = (m[1] ?? '').replace(/\\\|/g, '|');
      if (/^(gf\.|await gf\.|const |new gf\.|for await|engine\.)/.test(code)) snippets.push({ line: i + 1, code });
    }
  });
  return { prelude: block[1], snippets };
}

test('docs/library.md: the prelude and every table example compile under tsc --strict with noUncheckedIndexedAccess against the package', () => {
  const md = readFileSync(join(root, 'docs', 'library.md'), 'utf8');
  const { prelude, snippets } = examples(md);
  assert.ok(snippets.length >= 30, `found ${snippets.length} examples`);
  // each example in its own scope, so a name one defines is not visible to the next
  const file = join(root, 'docs', '__library_examples.ts');
  const body = snippets.map((s) => `{ // docs/library.md:${s.line}\n${s.code};\n}`).join('\n');
  const source = `${prelude}\nexport async function examples(): Promise<void> {\n${body}\n}\n`;
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts'],
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    noEmit: true,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const lines = source.split('\n');
  const errors = ts.getPreEmitDiagnostics(program).map((d) => {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file?.fileName !== file || d.start === undefined) return `${d.file?.fileName ?? ''}: ${msg}`;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    // the doc line: the nearest "// docs/library.md:N" above
    let at = 'prelude';
    for (let l = line; l >= 0; l--) {
      const m = /\/\/ docs\/library\.md:(\d+)$/.exec(lines[l] ?? '');
      if (m) {
        at = `docs/library.md:${m[1]}`;
        break;
      }
    }
    return `${at}: ${msg} (in: ${lines[line]?.trim()})`;
  });
  assert.deepEqual(errors, []);
});
