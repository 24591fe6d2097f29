/**
 * node dist/bench/constrain-keys.js — a micro-bench of the masks of keys outside `properties`
 * on cl100k (docs/journal/constrain.md, round 8): 12 objects of 15 declared names each, with
 * `additionalProperties` left at its default (true), so every declared key typed passes through
 * name-prefix states; each instance is fed token by token and `fillMask` timed before every
 * token (CPU time). Prints the mean, the frames walked, trie nodes visited, parser states
 * built, and the collector's time.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { Automaton, GrammarConstraint, lowerSchema, TokenMatcher, tokenTrie } from '../src/infer/constrain/index.js';
import { Tokenizer } from '../src/tokenizer/index.js';
import { cl100kRankFileText } from '../test/tokenizer/corpus.js';
import { checkBenchArgs } from './args.js';

checkBenchArgs(import.meta.url, {}); // --help: the usage above; an unknown flag refused, before any work

const NAMES = ['name', 'nation', 'number', 'id', 'identifier', 'description', 'desc', 'value', 'values', 'type', 'types', 'kind', 'label', 'url', 'uri'];

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const { text, specials } = cl100kRankFileText();
const tok = Tokenizer.fromTiktoken(text, { pattern: 'cl100k', specialTokens: specials });
const trie = tokenTrie(tok);
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });
const mask = new Uint32Array(trie.words);
let total = 0;
let masks = 0;
let frames = 0;
let nodes = 0;
let states = 0;
for (let k = 0; k < 12; k++) {
  const properties: Record<string, unknown> = {};
  const instance: Record<string, unknown> = {};
  NAMES.forEach((base, i) => {
    const name = k === 0 ? base : `${base}_${k}_${i}`;
    properties[name] = { type: i % 3 === 0 ? 'integer' : 'string' };
    instance[name] = i % 3 === 0 ? i : `v${i} text`;
  });
  const matcher = new TokenMatcher(new Automaton(lowerSchema({ type: 'object', properties }, { file: `keys-${k}.json` })), trie);
  const con = new GrammarConstraint(matcher);
  for (const id of tok.encodeOrdinary(JSON.stringify(instance))) {
    const t0 = cpuMs();
    con.fillMask(mask);
    total += cpuMs() - t0;
    masks++;
    if (!con.advance(id)) throw new Error(`keys-${k}.json: the instance was refused at token ${id}`);
  }
  frames += matcher.framesBuilt;
  nodes += matcher.nodesVisited;
  states += matcher.automaton.stateCount;
}
await new Promise((r) => setTimeout(r, 20)); // GC entries arrive a timer turn later
console.log(`keys outside properties, cl100k: ${masks} masks, mean ${((1000 * total) / masks).toFixed(1)} µs CPU (${total.toFixed(0)} ms); ${frames} frames walked, ${nodes} trie nodes, ${states} parser states; GC ${gcMs.toFixed(0)} ms in the process`);
