/**
 * Tool arguments under their declared JSON Schema: the grammar of a tool call's body (the text
 * between `<|tool_start|>` and `<|tool_end|>`, "name: input", see src/infer/tools/registry.ts)
 * when tools declare `parameters` (OpenAI's function-calling field):
 *
 *   call ::= name₁ ":" " "? args₁ | name₂ ":" " "? args₂ | …
 *
 * where argsᵢ is the tool's schema compiled as for `--json-schema` (compact whitespace: a call
 * is one line) and, for a tool without `parameters`, any text. The chat engine
 * (src/infer/engine.ts) steps this constraint through the call's tokens, so once the model has
 * written a tool's name and colon its arguments can only be a JSON text the schema accepts, and
 * `<|tool_end|>` is allowed only where that text is complete. Names are limited to the
 * registered tools (exact spelling) while any tool declares parameters.
 */
import type { Tokenizer } from '../../tokenizer/index.js';
import type { TokenConstraint } from '../constraint.js';
import type { ToolRegistry } from '../tools/registry.js';
import { byteSet } from './bytes.js';
import { alt, bytes, literal, opt, ref, seq, star, type Expr, type Grammar } from './grammar.js';
import { Automaton, GrammarConstraint, TokenMatcher } from './matcher.js';
import { schemaGrammar } from './schema.js';
import { tokenTrie } from './trie.js';

/** The same expression with every rule reference renamed by `rename`. */
function renameRefs(e: Expr, rename: (name: string) => string): Expr {
  switch (e.kind) {
    case 'ref':
      return ref(rename(e.name));
    case 'seq':
    case 'alt':
      return { kind: e.kind, items: e.items.map((x) => renameRefs(x, rename)) };
    case 'repeat':
      return { kind: 'repeat', item: renameRefs(e.item, rename), min: e.min, max: e.max };
    default:
      return e;
  }
}

/**
 * The grammar of a call body over `tools` (see the module comment), or null when no tool
 * declares `parameters` (calls stay free). Throws GptforgeError naming the tool (as the file)
 * and the JSON pointer for a schema we cannot enforce, before any decoding.
 */
export function toolCallGrammar(tools: ToolRegistry | readonly ToolDeclaration[]): Grammar | null {
  const decls: readonly ToolDeclaration[] = Array.isArray(tools) ? tools : (tools as ToolRegistry).names().map((name) => ({ name, parameters: (tools as ToolRegistry).get(name)?.parameters }));
  if (!decls.some((d) => d.parameters !== undefined)) return null;
  const rules = new Map<string, Expr>();
  const lexemes = new Set<string>();
  const branches: Expr[] = [];
  decls.forEach(({ name, parameters: params }, i) => {
    let body: Expr;
    if (params === undefined) body = star(bytes(byteSet([0, 255])));
    else {
      const g = schemaGrammar(params, { whitespace: 'compact', file: `tool ${name} parameters` });
      const prefix = (r: string): string => `tool${i}:${r}`;
      for (const [r, e] of g.rules) rules.set(prefix(r), renameRefs(e, prefix));
      for (const r of g.lexemes ?? []) lexemes.add(prefix(r));
      body = ref(prefix(g.start));
    }
    branches.push(seq(literal(name), literal(':'), opt(literal(' ')), body));
  });
  rules.set('call', alt(...branches));
  return { rules, start: 'call', source: 'tool call', lexemes };
}

/** A tool as a request declares it: its name and, when it has them, its parameters' JSON Schema (OpenAI's `function.parameters`). */
export interface ToolDeclaration {
  readonly name: string;
  readonly parameters?: unknown;
}

/**
 * The call-body constraint for tools declared by a request (the server's `tools`: the client's
 * functions and any built-in ones), or null when none declares `parameters`.
 * @throws GptforgeError naming the tool and the JSON pointer of a schema we cannot enforce.
 */
export function declaredToolCallConstraint(decls: readonly ToolDeclaration[], tok: Tokenizer): GrammarConstraint | null {
  const g = toolCallGrammar(decls);
  return g === null ? null : new GrammarConstraint(new TokenMatcher(new Automaton(g), tokenTrie(tok)));
}

const cache = new WeakMap<ToolRegistry, { key: string; tok: Tokenizer; con: GrammarConstraint | null }>();

/** The call-body constraint for a registry and tokenizer (compiled once while the registry's tools stay the same), or null. */
export function toolCallConstraint(tools: ToolRegistry, tok: Tokenizer): GrammarConstraint | null {
  const key = JSON.stringify(tools.names().map((n) => [n, tools.get(n)?.parameters ?? null]));
  const hit = cache.get(tools);
  if (hit && hit.key === key && hit.tok === tok) return hit.con;
  const g = toolCallGrammar(tools);
  const con = g === null ? null : new GrammarConstraint(new TokenMatcher(new Automaton(g), tokenTrie(tok)));
  cache.set(tools, { key, tok, con });
  return con;
}

/**
 * Mask a call body's logits [V] in place to what `con` allows next, plus `endId`
 * (`<|tool_end|>`) once the body is complete: the step a tool row takes inside a call
 * (ToolCallRow in src/infer/tools-state.ts, which the library's ChatEngine and the server's
 * chat rows share). `mask` is a reusable bitset of ⌈V / 32⌉
 * words; returns it (allocated on first use).
 */
export function maskCallLogits(con: TokenConstraint, logits: Float32Array, endId: number, mask: Uint32Array | null): Uint32Array {
  const keepEnd = con.isComplete();
  const m = mask ?? new Uint32Array(Math.ceil(logits.length / 32));
  if (con.mustEnd()) m.fill(0);
  else con.fillMask(m);
  for (let id = 0; id < logits.length; id++) if ((m[id >>> 5] & (1 << (id & 31))) === 0 && !(keepEnd && id === endId)) logits[id] = -Infinity;
  return m;
}
