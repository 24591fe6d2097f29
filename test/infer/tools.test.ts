import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Rng } from '../../src/engine/rng.js';
import { ToolError, ToolRegistry, defaultTools, type Tool, type ToolResult } from '../../src/infer/tools/registry.js';
import { calculator, evaluateExpression, formatNumber } from '../../src/infer/tools/calculator.js';

const tools = defaultTools();
const calc = (expr: string): ToolResult => tools.call(`calculator: ${expr}`);

test('calculator: precedence, associativity, unary minus, powers, decimals, Unicode operators', () => {
  const table: Array<[string, string]> = [
    ['1+2*3', '7'],
    ['(1+2)*3', '9'],
    ['10-4-3', '3'],
    ['100/10/5', '2'],
    ['8/2*4', '16'],
    ['2*3^2', '18'],
    ['2^3^2', '512'],
    ['2**3**2', '512'],
    ['2^10', '1024'],
    ['-2^2', '-4'],
    ['(-2)^2', '4'],
    ['2^-1', '0.5'],
    ['-2^-2', '-0.25'],
    ['2^0.5', '1.414213562'],
    ['-3*-4', '12'],
    ['--5', '5'],
    ['+5', '5'],
    ['3 - -2', '5'],
    ['0-7', '-7'],
    ['7 - 10', '-3'],
    ['-0', '0'],
    ['0*-1', '0'],
    ['1/3', '0.3333333333'],
    ['2/3', '0.6666666667'],
    ['10/4', '2.5'],
    ['-7/2', '-3.5'],
    ['0.1+0.2', '0.3'],
    ['.5*4', '2'],
    ['3.5 + 1.25', '4.75'],
    ['1/1000000000000', '1e-12'],
    ['123456789012.5', '123456789013'],
    ['6 × 7', '42'],
    ['84 ÷ 4', '21'],
    ['10 − 3', '7'],
    ['12 x 3', '36'],
    ['12X3', '36'],
    ['345*67', '23115'],
    ['1234 * 5678', '7006652'],
    ['9999*9999', '99980001'],
    ['99999*99999', '9999800001'],
    ['10^15', '1000000000000000'],
    ['1,234 + 1', '1235'],
    ['12,345,678 * 2', '24691356'],
    ['1,234.5 * 2', '2469'],
    ['2+2=', '4'],
    ['2 + 2 = ?', '4'],
    ['  ( 1 + ( 2 * ( 3 + 4 ) ) )  ', '15'],
    ['(((((((((((1)))))))))))', '1'],
  ];
  for (const [expr, want] of table) {
    assert.deepEqual(calc(expr), { ok: true, output: want, tool: 'calculator' }, expr);
    assert.equal(calculator.run(expr), want, expr);
  }
});

test('calculator: every 4-digit × 4-digit product is exact in the training-data format', () => {
  const rng = new Rng(7);
  for (let k = 0; k < 500; k++) {
    const a = 1000 + rng.int(9000);
    const b = 1000 + rng.int(9000);
    assert.equal(calc(`${a}*${b}`).output, String(a * b));
  }
});

test('formatNumber: plain integers, 10 significant digits, no exponent for ordinary magnitudes', () => {
  assert.equal(formatNumber(23115), '23115');
  assert.equal(formatNumber(-42), '-42');
  assert.equal(formatNumber(-0), '0');
  assert.equal(formatNumber(1e15), '1000000000000000');
  assert.equal(formatNumber(1 / 3), '0.3333333333');
  assert.equal(formatNumber(2.5), '2.5');
  assert.equal(formatNumber(123.456), '123.456');
  assert.equal(formatNumber(0.000123456789012), '0.000123456789');
  assert.equal(formatNumber(2.00000000001), '2');
  assert.equal(formatNumber(-1e-13), '-1e-13');
  assert.equal(formatNumber(1.5e-12), '1.5e-12');
});

test('calculator: bad input comes back as a one-line error the model can act on', () => {
  const table: Array<[string, RegExp]> = [
    ['', /^error: empty expression$/],
    ['   ', /^error: empty expression$/],
    ['=', /^error: empty expression$/],
    ['2+', /incomplete expression: expected a number after "\+"/],
    ['*2', /unexpected "\*" at position 1/],
    ['2 3', /missing operator before "3" at position 3/],
    ['2(3)', /missing operator before "\(" at position 2/],
    ['(2+3', /unbalanced parentheses: "\(" at position 1 is never closed/],
    ['2+3)', /unbalanced parentheses: unexpected "\)" at position 4/],
    ['()', /empty parentheses at position 1/],
    ['1/0', /^error: division by zero$/],
    ['1/(2-2)', /division by zero/],
    ['0^-1', /division by zero/],
    ['10^16', /^error: result too large$/],
    ['99999999*99999999', /^error: result too large$/],
    ['1000000000000001', /number too large/],
    ['2^101', /exponent too large \(max 100\)/],
    ['(-8)^(1/3)', /non-integer power of a negative number/],
    ['1'.repeat(201), /expression too long/],
    ['('.repeat(60) + '1' + ')'.repeat(60), /too deeply nested/],
    ['('.repeat(199), /too deeply nested/],
    ['2+a', /unexpected character "a" at position 3/],
    ['1,23', /malformed number "1,23".*thousands separators/],
    ['0,5', /malformed number "0,5"/],
    ['1.2.3', /malformed number "1\.2\.3"/],
    ['5.', /malformed number "5\."/],
    ['1e5', /unexpected character "e" at position 2/],
    ['process.exit(1)', /unexpected character "p" at position 1/],
    ["require('fs')", /unexpected character "r" at position 1/],
    ['2 ; 3', /unexpected character ";" at position 3/],
    ['2 😀', /unexpected character "😀" \(U\+1F600\) at position 3/],
    ['2\u0000', /unexpected character U\+0000 at position 2/],
    ['2 == 2', /unexpected character "=" at position 3/],
  ];
  for (const [expr, want] of table) {
    const r = calc(expr);
    assert.equal(r.ok, false, expr);
    assert.equal(r.tool, 'calculator', expr);
    assert.match(r.output, want, expr);
    assert.ok(r.output.length <= 120 && !/[\n\r]/.test(r.output), expr);
  }
  assert.throws(
    () => evaluateExpression('1/0'),
    (e: unknown) => e instanceof ToolError && e.message === 'division by zero',
  );
});

test('registry: parsing, unknown tools, malformed calls, duplicates, crashing tools', () => {
  assert.deepEqual(tools.names(), ['calculator']);
  assert.equal(tools.get('calculator'), calculator);
  assert.deepEqual(tools.call('  calculator:345*67 '), { ok: true, output: '23115', tool: 'calculator' });
  assert.equal(tools.call('Calculator: 1+1').output, '2');
  assert.deepEqual(tools.call('search: cats'), { ok: false, output: 'error: unknown tool "search" (tools: calculator)', tool: 'search' });
  assert.match(tools.call(`${'a'.repeat(300)}: 1`).output, /^error: unknown tool "a{23}…" \(tools: calculator\)$/);
  for (const bad of ['no colon', '', ':1+1', '2+2: 4', 'calc ulator: 1']) {
    assert.deepEqual(tools.call(bad), { ok: false, output: 'error: malformed tool call: expected "name: input"' }, bad);
  }
  assert.match(tools.call(`calculator: ${'1+'.repeat(300)}1`).output, /^error: tool call too long/);
  assert.equal(tools.call(undefined as unknown as string).ok, false);

  assert.throws(() => defaultTools().register(calculator), /already registered/);
  assert.throws(() => new ToolRegistry().register({ ...calculator, name: '9lives' }), /invalid tool name/);

  const crash: Tool = {
    name: 'boom',
    description: '',
    run: () => {
      throw new TypeError('kaboom\nsecond line');
    },
  };
  const refuse: Tool = {
    name: 'refuse',
    description: '',
    run: () => {
      throw new ToolError('no thanks');
    },
  };
  const chatty: Tool = { name: 'chatty', description: '', run: () => 'y'.repeat(10_000) };
  const reg = new ToolRegistry().register(crash).register(refuse).register(chatty);
  assert.deepEqual(reg.names(), ['boom', 'refuse', 'chatty']);
  assert.deepEqual(reg.call('boom: x'), { ok: false, output: 'error: boom failed: kaboom second line', tool: 'boom' });
  assert.deepEqual(reg.call('refuse: x'), { ok: false, output: 'error: no thanks', tool: 'refuse' });
  assert.deepEqual(reg.call('chatty: x'), { ok: false, output: 'error: chatty output too long', tool: 'chatty' });
});

test('calculator source: no dynamic code execution in the compiled module', () => {
  for (const file of ['calculator.js', 'registry.js', 'tool.js']) {
    const src = readFileSync(new URL(`../../src/infer/tools/${file}`, import.meta.url), 'utf8');
    for (const banned of [/\beval\s*\(/, /\bFunction\s*\(/, /\bimport\s*\(/, /\brequire\s*\(/, /['"](node:)?vm['"]/]) {
      assert.doesNotMatch(src, banned, `${file} contains ${String(banned)}`);
    }
    const imports = [...src.matchAll(/^import\b.*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    assert.ok(
      imports.every((spec) => ['./registry.js', './calculator.js', './tool.js', './schema.js'].includes(spec)),
      `${file} imports ${imports.join(', ')}`,
    );
  }
  // schema.js loads ajv (and only it) on first use: ajv compiles the tool author's schema into a
  // function, as it is designed to; the model's input only ever goes through JSON.parse
  const schema = readFileSync(new URL('../../src/infer/tools/schema.js', import.meta.url), 'utf8');
  for (const banned of [/\beval\s*\(/, /\bFunction\s*\(/, /\bimport\s*\(/, /['"](node:)?vm['"]/]) assert.doesNotMatch(schema, banned);
  const required = [...schema.matchAll(/\brequire\s*\(\s*([^)]*)\)/g)].map((m) => m[1]);
  assert.deepEqual(required.sort(), ["'ajv'", "'ajv-draft-04'", "'ajv-formats'", "'ajv/dist/2020'"]);
});

// ---------------------------------------------------------------------------------------
// Fuzzing

/** Junk the model (or an attacker) might put in a call: code, quotes, Unicode, controls. */
const PIECES = [
  '0',
  '1',
  '2',
  '3',
  '4',
  '5',
  '6',
  '7',
  '8',
  '9',
  '.',
  ',',
  ' ',
  ' ',
  '+',
  '-',
  '*',
  '/',
  '^',
  '**',
  '(',
  ')',
  '×',
  '÷',
  '−',
  'x',
  'X',
  '=',
  '?',
  '= ?',
  'a',
  'Z',
  'e',
  '"',
  "'",
  ';',
  '`',
  '${1}',
  '()=>',
  '=>',
  '{',
  '}',
  '[',
  ']',
  'process.exit(1)',
  "require('fs')",
  'globalThis.__pwned = 1',
  'Infinity',
  'NaN',
  '1e309',
  '0x10',
  '\\',
  ':',
  'é',
  '😀',
  '\ud800',
  '\u0000',
  '\n',
  '\t',
  '\u2028',
  '\u00a0',
  '<|output_end|>',
  'calculator:',
];

function randomJunk(rng: Rng): string {
  const n = 1 + rng.int(rng.random() < 0.02 ? 400 : 30);
  let s = '';
  for (let k = 0; k < n; k++) s += PIECES[rng.int(PIECES.length)];
  const r = rng.random();
  if (r < 0.8) return `calculator: ${s}`;
  if (r < 0.9) return `${['calculator', 'calc', 'python', 'Calculator'][rng.int(4)]}:${s}`;
  return s;
}

type BinOp = '+' | '-' | '*' | '/' | '^';
type Expr = { kind: 'leaf'; value: number; text: string } | { kind: 'neg'; child: Expr } | { kind: 'bin'; op: BinOp; left: Expr; right: Expr };

/** Random tree; exponents are small signed integer leaves so the value stays computable. */
function randomTree(rng: Rng, depth: number): Expr {
  const r = rng.random();
  if (depth === 0 || r < 0.3) return randomLeaf(rng);
  if (r < 0.42) return { kind: 'neg', child: randomTree(rng, depth - 1) };
  if (r < 0.52) {
    const e = randomIntLeaf(rng.int(4));
    return { kind: 'bin', op: '^', left: randomTree(rng, depth - 1), right: rng.random() < 0.3 ? { kind: 'neg', child: e } : e };
  }
  const op = (['+', '-', '*', '/'] as const)[rng.int(4)];
  return { kind: 'bin', op, left: randomTree(rng, depth - 1), right: randomTree(rng, depth - 1) };
}

function randomIntLeaf(n: number): Expr {
  return { kind: 'leaf', value: n, text: String(n) };
}

function randomLeaf(rng: Rng): Expr {
  const r = rng.random();
  const n = rng.int(r < 0.5 ? 10 : 10_000);
  if (r < 0.8) {
    // Sometimes with a thousands separator, which must not change the value.
    const text = n >= 1000 && rng.random() < 0.3 ? n.toLocaleString('en-US') : String(n);
    return { kind: 'leaf', value: n, text };
  }
  let text = (n / 100).toFixed(2);
  if (text.startsWith('0.') && rng.random() < 0.5) text = text.slice(1);
  return { kind: 'leaf', value: Number(text), text };
}

/** Binding strength of a node as the calculator parses it (higher binds tighter). */
function precedence(e: Expr): number {
  if (e.kind === 'leaf') return 5;
  if (e.kind === 'neg') return 3;
  return { '+': 1, '-': 1, '*': 2, '/': 2, '^': 4 }[e.op];
}

const SPELLINGS: Record<BinOp, string[]> = { '+': ['+'], '-': ['-', '−'], '*': ['*', '×', 'x', 'X'], '/': ['/', '÷'], '^': ['^', '**'] };

/** Renders as tokens with the fewest parentheses the grammar allows (or all of them). */
function render(e: Expr, rng: Rng, full: boolean): string[] {
  const wrap = (child: Expr, need: boolean): string[] => (need || (full && child.kind !== 'leaf') ? ['(', ...render(child, rng, full), ')'] : render(child, rng, full));
  if (e.kind === 'leaf') return [e.text];
  if (e.kind === 'neg') return [rng.random() < 0.8 ? '-' : '−', ...wrap(e.child, precedence(e.child) < 3)];
  const spelled = SPELLINGS[e.op][rng.int(SPELLINGS[e.op].length)];
  const p = precedence(e);
  if (e.op === '^') {
    // The base must bind tighter than '^' (so "-2^2" is not a base); the exponent is a unary.
    return [...wrap(e.left, precedence(e.left) <= 4), spelled, ...wrap(e.right, precedence(e.right) < 3)];
  }
  return [...wrap(e.left, precedence(e.left) < p), spelled, ...wrap(e.right, precedence(e.right) <= p)];
}

class ExpectedError extends Error {}

/** The tree's value computed independently, with the calculator's documented limits. */
function evaluateTree(e: Expr): number {
  if (e.kind === 'leaf') return e.value;
  if (e.kind === 'neg') return -evaluateTree(e.child);
  const a = evaluateTree(e.left);
  const b = evaluateTree(e.right);
  let v: number;
  switch (e.op) {
    case '+':
      v = a + b;
      break;
    case '-':
      v = a - b;
      break;
    case '*':
      v = a * b;
      break;
    case '/':
      if (b === 0) throw new ExpectedError('division by zero');
      v = a / b;
      break;
    case '^':
      if (a === 0 && b < 0) throw new ExpectedError('division by zero');
      v = a ** b;
      break;
  }
  if (Math.abs(v) > 1e15) throw new ExpectedError('result too large');
  return v;
}

/** Integer leaves, no division and no negative exponent: the result must be exact. */
function isExactTree(e: Expr): boolean {
  if (e.kind === 'leaf') return Number.isInteger(e.value);
  if (e.kind === 'neg') return isExactTree(e.child);
  if (e.op === '/') return false;
  if (e.op === '^' && e.right.kind === 'neg') return false;
  return isExactTree(e.left) && isExactTree(e.right);
}

function assertWellFormedOutput(r: ToolResult, input: string): void {
  assert.equal(typeof r.output, 'string', input);
  assert.ok(r.output.length <= 120, `output too long for ${JSON.stringify(input)}`);
  if (r.ok) {
    assert.match(r.output, /^-?\d+(\.\d+)?(e[+-]\d+)?$/, input);
    assert.ok(Number.isFinite(Number(r.output)), input);
  } else {
    assert.match(r.output, /^error: [^\n\r\u2028\u2029]+$/, input);
  }
}

function checkTree(rng: Rng): void {
  const tree = randomTree(rng, 1 + rng.int(4));
  const tokens = render(tree, rng, rng.random() < 0.3);
  const expr = tokens.map((t, k) => (k > 0 && rng.random() < 0.4 ? ' ' : '') + t).join('');
  const r = calc(expr);
  assertWellFormedOutput(r, expr);
  let want: number | ExpectedError;
  try {
    want = evaluateTree(tree);
  } catch (e) {
    if (!(e instanceof ExpectedError)) throw e;
    want = e;
  }
  if (expr.length > 200) return assert.match(r.output, /expression too long/, expr);
  if (want instanceof ExpectedError) return assert.equal(r.output, `error: ${want.message}`, expr);
  assert.ok(r.ok, `${expr} → ${r.output}, want ${want}`);
  if (isExactTree(tree)) {
    assert.equal(r.output, want === 0 ? '0' : String(want), expr);
  } else {
    const got = Number(r.output);
    assert.ok(Math.abs(got - want) <= 1e-9 * Math.abs(want) + 1e-12, `${expr} → ${r.output}, want ${want}`);
  }
}

test('fuzz: 10,000 random inputs never throw, never execute, and well-formed trees evaluate right', () => {
  const g = globalThis as { __pwned?: unknown };
  delete g.__pwned;
  const rng = new Rng(20240611);
  let ok = 0;
  for (let k = 0; k < 10_000; k++) {
    if (k % 2 === 0) {
      const input = randomJunk(rng);
      const r = tools.call(input);
      assertWellFormedOutput(r, input);
      if (r.ok) ok++;
    } else {
      checkTree(rng);
    }
  }
  assert.equal(g.__pwned, undefined, 'an input was executed as code');
  assert.ok(ok > 0, 'some junk inputs should still be valid arithmetic');
});
