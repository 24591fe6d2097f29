import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { setBackend, nativeAvailable } from '../../src/engine/backend.js';
import { noGrad } from '../../src/engine/tensor.js';
import type { GPT } from '../../src/model/gpt.js';
import { loadCheckpoint, modelFromCheckpoint, resolveCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.js';
import { readSafetensors, type NamedTensor } from '../../src/model/safetensors.js';
import { exportCheckpointToHf, importHuggingFace, HF_TOKENIZER_KEYS } from '../../src/model/export/hf.js';
import { chatTemplate } from '../../src/model/export/chat-template.js';
import { fromOpenAIShape, renderConversation, renderPrompt } from '../../src/data/chat.js';
import type { Conversation } from '../../src/data/conversation.js';
import { GptforgeError } from '../../src/util/errors.js';
import { randomModel, saveTemp, smallTokenizer, tempDir } from './fixtures.js';

/*
 * Independent re-implementations of transformers' GPT2LMHeadModel and GPTNeoXForCausalLM
 * forward passes (modeling_gpt2.py / modeling_gpt_neox.py, in float64, one sequence), run
 * on the *exported* tensors and config.json. If our export put a weight in the wrong place
 * for the architecture transformers would build, these logits would differ from gptforge's.
 */
type T = Map<string, NamedTensor>;
const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
function layerNorm(x: Float64Array, w: Float32Array, b: Float32Array, eps: number): Float64Array {
  const n = x.length;
  let m = 0;
  for (const v of x) m += v;
  m /= n;
  let s = 0;
  for (const v of x) s += (v - m) ** 2;
  const r = 1 / Math.sqrt(s / n + eps);
  return Float64Array.from(x, (v, i) => (v - m) * r * w[i] + b[i]);
}
/** y = x·W + b with W stored [in, out] (Conv1D) or [out, in] (nn.Linear, `linear` true). */
function affine(x: Float64Array, W: Float32Array, b: Float32Array | null, out: number, linear: boolean): Float64Array {
  const inn = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b[o] : 0;
    for (let i = 0; i < inn; i++) s += x[i] * (linear ? W[o * inn + i] : W[i * out + o]);
    y[o] = s;
  }
  return y;
}
function attend(qs: Float64Array[], ks: Float64Array[], vs: Float64Array[], nHead: number, D: number): Float64Array[] {
  return qs.map((q, t) => {
    const out = new Float64Array(nHead * D);
    for (let h = 0; h < nHead; h++) {
      const sc = ks.slice(0, t + 1).map((k) => {
        let s = 0;
        for (let j = 0; j < D; j++) s += q[h * D + j] * k[h * D + j];
        return s / Math.sqrt(D);
      });
      const mx = Math.max(...sc);
      const e = sc.map((s) => Math.exp(s - mx));
      const z = e.reduce((a, b) => a + b, 0);
      e.forEach((p, u) => {
        for (let j = 0; j < D; j++) out[h * D + j] += (p / z) * vs[u][h * D + j];
      });
    }
    return out;
  });
}
function hfForward(dir: string, ids: number[]): Float64Array[] {
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number & string & boolean>;
  const t: T = readSafetensors(join(dir, 'model.safetensors')).tensors;
  const g = (n: string): Float32Array => {
    const x = t.get(n);
    assert.ok(x, `exported tensor ${n}`);
    return x.data;
  };
  const neox = cfg.model_type === 'gpt_neox';
  const C: number = neox ? cfg.hidden_size : cfg.n_embd;
  const nHead: number = neox ? cfg.num_attention_heads : cfg.n_head;
  const L: number = neox ? cfg.num_hidden_layers : cfg.n_layer;
  const H: number = neox ? cfg.intermediate_size : cfg.n_inner;
  const eps: number = neox ? cfg.layer_norm_eps : cfg.layer_norm_epsilon;
  const D = C / nHead;
  const wte = g(neox ? 'gpt_neox.embed_in.weight' : 'transformer.wte.weight');
  let xs = ids.map((id, pos) => Float64Array.from({ length: C }, (_, i) => wte[id * C + i] + (neox ? 0 : g('transformer.wpe.weight')[pos * C + i])));
  for (let l = 0; l < L; l++) {
    const p = neox ? `gpt_neox.layers.${l}` : `transformer.h.${l}`;
    const qs: Float64Array[] = [];
    const ks: Float64Array[] = [];
    const vs: Float64Array[] = [];
    xs.forEach((x, pos) => {
      const h = layerNorm(x, g(`${p}.${neox ? 'input_layernorm' : 'ln_1'}.weight`), g(`${p}.${neox ? 'input_layernorm' : 'ln_1'}.bias`), eps);
      const qkv = neox ? affine(h, g(`${p}.attention.query_key_value.weight`), g(`${p}.attention.query_key_value.bias`), 3 * C, true) : affine(h, g(`${p}.attn.c_attn.weight`), g(`${p}.attn.c_attn.bias`), 3 * C, false);
      const q = new Float64Array(C);
      const k = new Float64Array(C);
      const v = new Float64Array(C);
      for (let hh = 0; hh < nHead; hh++) {
        for (let j = 0; j < D; j++) {
          // NeoX: view(…, nHead, 3·D) then split; GPT-2: split(C) then view(nHead, D)
          q[hh * D + j] = neox ? qkv[hh * 3 * D + j] : qkv[hh * D + j];
          k[hh * D + j] = neox ? qkv[hh * 3 * D + D + j] : qkv[C + hh * D + j];
          v[hh * D + j] = neox ? qkv[hh * 3 * D + 2 * D + j] : qkv[2 * C + hh * D + j];
        }
        if (neox) {
          // rotate_half: x·cos + cat(−x₂, x₁)·sin, inv_freq = base^(−2i/D), emb = cat(freqs, freqs)
          const half = D / 2;
          for (const a of [q, k]) {
            const o = hh * D;
            const src = a.slice(o, o + D);
            for (let i = 0; i < half; i++) {
              const ang = pos / Math.pow(cfg.rope_theta, (2 * i) / D);
              a[o + i] = src[i] * Math.cos(ang) - src[i + half] * Math.sin(ang);
              a[o + i + half] = src[i + half] * Math.cos(ang) + src[i] * Math.sin(ang);
            }
          }
        }
      }
      qs.push(q);
      ks.push(k);
      vs.push(v);
    });
    const att = attend(qs, ks, vs, nHead, D);
    xs = xs.map((x, pos) => {
      const a = neox ? affine(att[pos], g(`${p}.attention.dense.weight`), g(`${p}.attention.dense.bias`), C, true) : affine(att[pos], g(`${p}.attn.c_proj.weight`), g(`${p}.attn.c_proj.bias`), C, false);
      assert.equal(neox ? cfg.use_parallel_residual : false, false);
      const x1 = x.map((v, i) => v + a[i]);
      const h2 = layerNorm(x1, g(`${p}.${neox ? 'post_attention_layernorm' : 'ln_2'}.weight`), g(`${p}.${neox ? 'post_attention_layernorm' : 'ln_2'}.bias`), eps);
      const f = neox ? affine(h2, g(`${p}.mlp.dense_h_to_4h.weight`), g(`${p}.mlp.dense_h_to_4h.bias`), H, true) : affine(h2, g(`${p}.mlp.c_fc.weight`), g(`${p}.mlp.c_fc.bias`), H, false);
      const act = f.map(gelu);
      const m = neox ? affine(act, g(`${p}.mlp.dense_4h_to_h.weight`), g(`${p}.mlp.dense_4h_to_h.bias`), C, true) : affine(act, g(`${p}.mlp.c_proj.weight`), g(`${p}.mlp.c_proj.bias`), C, false);
      return x1.map((v, i) => v + m[i]);
    });
  }
  const lnf = neox ? 'gpt_neox.final_layer_norm' : 'transformer.ln_f';
  const head = cfg.tie_word_embeddings ? wte : g(neox ? 'embed_out.weight' : 'lm_head.weight');
  return xs.map((x) => affine(layerNorm(x, g(`${lnf}.weight`), g(`${lnf}.bias`), eps), head, null, cfg.vocab_size, true));
}

function ourLogits(model: GPT, ids: number[]): Float32Array {
  return noGrad(() => model.forward(Int32Array.from(ids), 1, ids.length)).data;
}

const VARIANTS = [
  { name: 'learned positions → GPT-2', cfg: { position: 'learned' as const }, arch: 'gpt2' },
  { name: 'rotary → GPT-NeoX', cfg: { position: 'rope' as const }, arch: 'gpt_neox' },
  { name: 'rotary, no biases, untied head → GPT-NeoX', cfg: { position: 'rope' as const, bias: false, tieEmbeddings: false, mlpHidden: 48 }, arch: 'gpt_neox' },
  { name: 'learned positions, untied head → GPT-2', cfg: { position: 'learned' as const, tieEmbeddings: false }, arch: 'gpt2' },
];

for (const v of VARIANTS) {
  test(`HF export (${v.name}): transformers' forward on the exported files = our logits; import restores the weights bit for bit`, () => {
    const tok = smallTokenizer();
    const model = randomModel({ vocabSize: tok.vocabSize, blockSize: 16, nLayer: 2, nHead: 4, nEmbd: 32, ...v.cfg });
    const ck = saveTemp(model, tok);
    const out = join(tempDir(), 'hf');
    const res = exportCheckpointToHf(ck, out);
    assert.equal(res.arch, v.arch);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.model_type, v.arch);
    if (v.arch === 'gpt_neox') {
      assert.equal(cfg.use_parallel_residual, false);
      assert.equal(cfg.rotary_pct, 1);
      assert.equal(cfg.hidden_act, 'gelu_new');
    } else assert.equal(cfg.activation_function, 'gelu_new');
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) assert.ok(existsSync(join(out, f)), f);
    // only keys the Rust tokenizers deserializer consumes (an unknown one breaks serde_json there)
    const tkeys = Object.keys(JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')) as object);
    assert.deepEqual(
      tkeys.filter((k) => !HF_TOKENIZER_KEYS.includes(k)),
      [],
    );

    const ids = tok.encode('Call me Ishmael. Some years ago 42', { disallowedSpecial: 'plain' }).slice(0, 12);
    const ours = ourLogits(model, ids);
    const theirs = hfForward(out, ids);
    let maxErr = 0;
    theirs.forEach((row, t) => row.forEach((x, i) => (maxErr = Math.max(maxErr, Math.abs(x - ours[t * tok.vocabSize + i])))));
    assert.ok(maxErr < 1e-4, `max |Δlogit| ${maxErr}`);

    // import back: identical config and weights, identical logits on both backends
    const stage = join(tempDir(), 'imported');
    const imp = importHuggingFace(out, stage);
    const back = loadCheckpoint(resolveCheckpoint(stage));
    assert.deepEqual(back.meta.model, model.config);
    for (const [name, t] of model.params) assert.deepEqual(back.weights.get(name), t.data, name);
    assert.equal(back.tokenizerJSON, tok.toJSON());
    const m2 = modelFromCheckpoint(back);
    for (const backend of nativeAvailable() ? (['native', 'reference'] as const) : (['reference'] as const)) {
      setBackend(backend);
      assert.deepEqual(ourLogits(m2, ids), ourLogits(model, ids), `${backend} logits`);
    }
    setBackend(nativeAvailable() ? 'native' : 'reference');
    assert.equal(imp.arch, v.arch);
  });
}

test('HF export refuses RMSNorm and SwiGLU by name', () => {
  const tok = smallTokenizer();
  const ck = saveTemp(randomModel({ vocabSize: tok.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope', norm: 'rmsnorm', mlp: 'swiglu' }), tok);
  assert.throws(
    () => exportCheckpointToHf(ck, join(tempDir(), 'x')),
    (e: unknown) => e instanceof GptforgeError && /norm: rmsnorm/.test(e.message) && /mlp: swiglu/.test(e.message),
  );
});

test('HF import refuses config keys that change the maths, naming them', () => {
  const tok = smallTokenizer();
  const ck = saveTemp(randomModel({ vocabSize: tok.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), tok);
  const out = join(tempDir(), 'hf');
  exportCheckpointToHf(ck, out);
  const cfgPath = join(out, 'config.json');
  const orig = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ use_parallel_residual: true }, /use_parallel_residual=true/],
    [{ rotary_pct: 0.25 }, /rotary_pct=0.25/],
    [{ hidden_act: 'gelu' }, /hidden_act="gelu"/],
    [{ rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling/],
    [{ rope_theta: 500000, rotary_emb_base: 500000 }, /rope_theta=500000/],
    [{ layer_norm_eps: 1e-6 }, /layer_norm_eps=0.000001/],
    [{ model_type: 'llama' }, /model_type "llama"/],
  ];
  // a config as transformers v5 saves it: the rotary settings only in rope_parameters
  const v5 = { ...orig };
  for (const k of ['rotary_pct', 'partial_rotary_factor', 'rotary_emb_base', 'rope_theta', 'rope_scaling']) delete v5[k];
  writeFileSync(cfgPath, JSON.stringify({ ...v5, rope_parameters: { rope_type: 'default', rope_theta: 10000, partial_rotary_factor: 1.0 } }));
  assert.equal(importHuggingFace(out, join(tempDir(), 's')).arch, 'gpt_neox');
  writeFileSync(cfgPath, JSON.stringify({ ...v5, rope_parameters: { rope_type: 'default', rope_theta: 10000, partial_rotary_factor: 0.5 } }));
  assert.throws(() => importHuggingFace(out, join(tempDir(), 's')), /rotary_pct=0.5/);
  for (const [patch, re] of cases) {
    writeFileSync(cfgPath, JSON.stringify({ ...orig, ...patch }));
    assert.throws(
      () => importHuggingFace(out, join(tempDir(), 's')),
      (e: unknown) => e instanceof GptforgeError && re.test(e.message) && e.message.includes(cfgPath),
      JSON.stringify(patch),
    );
  }
});

const CONVS: Conversation[] = [
  {
    messages: [
      { role: 'user', content: 'What is 12 times 34?' },
      { role: 'assistant', content: 'It is 408.' },
    ],
  },
  {
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Hello there!  How are   you?\n' },
      { role: 'assistant', content: 'Let me check.', tool_call: { name: 'calculator', input: '4821 * 37' } },
      { role: 'tool', content: '178377' },
      { role: 'assistant', content: ' The answer is 178377.' },
      { role: 'user', content: 'Thanks — naïve café 中文 😀' },
      { role: 'assistant', content: 'You are welcome.' },
    ],
  },
];

test('chat_template (Jinja, @huggingface/jinja) + tokenizer.json (@huggingface/tokenizers) give our chat ids exactly', async () => {
  const tok = smallTokenizer();
  const ck = saveTemp(randomModel({ vocabSize: tok.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16 }), tok);
  const out = join(tempDir(), 'hf');
  exportCheckpointToHf(ck, out);
  const tc = JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')) as { chat_template: string; bos_token: string; eos_token: string };
  assert.equal(tc.eos_token, '<|assistant_end|>');
  const tmpl = new Template(tc.chat_template);
  const hf = new HfTokenizer(JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')) as object, tc as object);
  for (const conv of CONVS) {
    const text = tmpl.render({ messages: conv.messages, bos_token: tc.bos_token, add_generation_prompt: false });
    const want = renderConversation(tok, conv).ids;
    assert.deepEqual(tok.encode(text, { allowedSpecial: 'all' }), want, 'our tokenizer on the rendered template');
    assert.deepEqual(hf.encode(text, { add_special_tokens: false }).ids, want, '@huggingface/tokenizers on the rendered template');
    // generation prompt: the conversation up to its last user message, then <|assistant_start|>
    const lastUser = conv.messages.map((m) => m.role).lastIndexOf('user');
    const prompt = { messages: conv.messages.slice(0, lastUser + 1) };
    const ptext = tmpl.render({ messages: prompt.messages, bos_token: tc.bos_token, add_generation_prompt: true });
    assert.deepEqual(hf.encode(ptext, { add_special_tokens: false }).ids, renderPrompt(tok, prompt));
  }
});

test('chat_template renders parallel tool_calls as our loader lays them out: each call, then the output answering its id', () => {
  const tok = smallTokenizer();
  const out = join(tempDir(), 'hf');
  exportCheckpointToHf(saveTemp(randomModel({ vocabSize: tok.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16 }), tok), out);
  const tc = JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')) as { chat_template: string; bos_token: string };
  const call = (id: string, input: string) => ({ id, type: 'function', function: { name: 'calculator', arguments: { input } } });
  const messages = [
    { role: 'user', content: 'What are 12*3 and 7+8?' },
    { role: 'assistant', content: 'Two sums.', tool_calls: [call('a', '12*3'), call('b', '7+8')] },
    // answered out of order: matched by id, as fromOpenAIShape matches them
    { role: 'tool', tool_call_id: 'b', content: '15' },
    { role: 'tool', tool_call_id: 'a', content: '36' },
    { role: 'assistant', content: '36 and 15.' },
    { role: 'user', content: 'And 2*2?' },
    { role: 'assistant', content: '', tool_calls: [call('c', '2*2')] },
    { role: 'tool', tool_call_id: 'c', content: '4' },
    { role: 'assistant', content: '4.' },
  ];
  const text = new Template(tc.chat_template).render({ messages, bos_token: tc.bos_token, add_generation_prompt: false });
  assert.equal(text.match(/<\|output_start\|>/g)?.length, 3, text);
  assert.match(text, /12\*3<\|tool_end\|><\|output_start\|>36<\|output_end\|><\|tool_start\|>calculator: 7\+8<\|tool_end\|><\|output_start\|>15<\|output_end\|>36 and 15\./);
  const ours = fromOpenAIShape({ messages: JSON.parse(JSON.stringify(messages)) }) as Conversation;
  assert.deepEqual(tok.encode(text, { allowedSpecial: 'all' }), renderConversation(tok, ours).ids);
});

test("chat_template skips an empty system message (node-llama-cpp systemPrompt: ''): the prompt ids equal gptforge chat's, a non-empty one is kept", () => {
  const tok = smallTokenizer();
  const tmpl = new Template(chatTemplate());
  const user = { role: 'user' as const, content: 'What goes well with rice?' };
  const withEmpty = tmpl.render({ messages: [{ role: 'system', content: '' }, user], add_generation_prompt: true });
  assert.equal(withEmpty, '<|bos|><|user_start|>What goes well with rice?<|user_end|><|assistant_start|>');
  assert.deepEqual(tok.encode(withEmpty, { allowedSpecial: 'all' }), renderPrompt(tok, { messages: [user] }));
  const withSystem = tmpl.render({ messages: [{ role: 'system', content: 'Be brief.' }, user], add_generation_prompt: true });
  assert.deepEqual(tok.encode(withSystem, { allowedSpecial: 'all' }), renderPrompt(tok, { messages: [{ role: 'system', content: 'Be brief.' }, user] }));
});

test('import a GPT-2 as the Hub stores it (no "transformer." prefix, attention-mask buffers, ByteLevel pre-tokenizer)', async () => {
  const { writeSafetensors } = await import('../../src/model/safetensors.js');
  const { mkdirSync } = await import('node:fs');
  const tok = smallTokenizer('gpt2');
  const model = randomModel({ vocabSize: tok.vocabSize, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32, position: 'learned' });
  const ours = join(tempDir(), 'hf');
  exportCheckpointToHf(saveTemp(model, tok), ours);
  const hub = join(tempDir(), 'gpt2-hub');
  mkdirSync(hub);
  const cfg = JSON.parse(readFileSync(join(ours, 'config.json'), 'utf8')) as Record<string, unknown>;
  delete cfg.gptforge;
  writeFileSync(join(hub, 'config.json'), JSON.stringify({ ...cfg, n_inner: null, summary_type: 'cls_index', task_specific_params: { 'text-generation': { do_sample: true, max_length: 50 } } }));
  const t = new Map<string, NamedTensor>();
  for (const [k, v] of readSafetensors(join(ours, 'model.safetensors')).tensors) t.set(k.replace(/^transformer\./, ''), v);
  for (let l = 0; l < 2; l++) {
    t.set(`h.${l}.attn.bias`, { shape: [1, 1, 16, 16], data: new Float32Array(256).fill(1) });
    t.set(`h.${l}.attn.masked_bias`, { shape: [], data: Float32Array.of(-1e4) });
  }
  writeSafetensors(join(hub, 'model.safetensors'), t);
  const tj = JSON.parse(tok.toJSON()) as Record<string, unknown>;
  delete tj.gptforge;
  tj.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  tj.post_processor = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true };
  writeFileSync(join(hub, 'tokenizer.json'), JSON.stringify(tj));

  const stage = join(tempDir(), 'base');
  const r = importHuggingFace(hub, stage);
  assert.equal(r.arch, 'gpt2');
  const back = loadCheckpoint(resolveCheckpoint(stage));
  const m2 = modelFromCheckpoint(back);
  const ids = tok.encode('Call me Ishmael, 1851.', { disallowedSpecial: 'plain' }).slice(0, 16);
  assert.deepEqual(ourLogits(m2, ids), ourLogits(model, ids));
  const { Tokenizer } = await import('../../src/tokenizer/index.js');
  const tok2 = Tokenizer.fromJSON(back.tokenizerJSON!, 'imported');
  const text = 'It was the best of times,  it was 1999!\n\n  def f(): pass';
  assert.deepEqual(tok2.encode(text), tok.encode(text));
});

test('import of a PEFT adapter directory says it is an adapter and what to import instead; a directory without config.json is named', () => {
  const adapter = tempDir();
  writeFileSync(join(adapter, 'adapter_config.json'), '{"peft_type":"LORA"}');
  assert.throws(
    () => importHuggingFace(adapter, join(tempDir(), 's')),
    (e: unknown) => e instanceof GptforgeError && e.file === adapter && /PEFT LoRA adapter .*base_model_name_or_path.*gptforge merge/.test(e.message),
  );
  const empty = tempDir();
  assert.throws(() => importHuggingFace(empty, join(tempDir(), 's')), /not a Hugging Face model directory \(no config\.json\)/);
  const exported = tempDir();
  mkdirSync(join(exported, 'base'));
  writeFileSync(join(exported, 'base', 'config.json'), '{}');
  assert.throws(() => importHuggingFace(exported, join(tempDir(), 's')), /it holds a PEFT export: import its base model, .*base/);
});

test('HF import keeps the step our export recorded, and refuses to replace a stage unless forced', () => {
  const tok = smallTokenizer();
  const ck = saveTemp(randomModel({ vocabSize: tok.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), tok);
  const out = join(tempDir(), 'hf');
  exportCheckpointToHf(ck, out);
  const stage = join(tempDir(), 'imported');
  const first = importHuggingFace(out, stage);
  assert.match(first.checkpoint, /step-0000003$/, 'the exported checkpoint was at step 3');
  assert.equal(loadCheckpoint(resolveCheckpoint(stage), { weights: false }).meta.step, 3);
  assert.throws(
    () => importHuggingFace(out, stage),
    (e: unknown) => e instanceof GptforgeError && e.file === stage && /already holds a checkpoint \(step-0000003\).*--force/.test(e.message),
  );
  const again = importHuggingFace(out, stage, { force: true });
  assert.equal(again.checkpoint, first.checkpoint);
  assert.deepEqual(
    readdirSync(stage).filter((n) => n.startsWith('step-')),
    ['step-0000003'],
  );
});

test('HF import --force replaces only its own step and the later ones (they would shadow it); earlier steps of the same model stay, of another model go', () => {
  const tok = smallTokenizer();
  const cfg = { vocabSize: tok.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' } as const;
  const ck = saveTemp(randomModel(cfg), tok); // step 3
  const out = join(tempDir(), 'hf');
  exportCheckpointToHf(ck, out);
  const steps = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('step-'));
  const hash = tok.hash();
  const json = tok.toJSON();

  // the stage's own history: steps 1 and 2 of the same model before, 5 after
  const stage = join(tempDir(), 'sft');
  for (const step of [1, 2, 3, 5]) saveCheckpoint(stage, randomModel(cfg, step), { stage: 'sft', step, tokenizerJSON: json, tokenizerHash: hash, keepLast: 0 });
  const r = importHuggingFace(out, stage, { force: true });
  assert.deepEqual(steps(stage), ['step-0000001', 'step-0000002', 'step-0000003']);
  assert.deepEqual(
    r.removed.map((d) => [basename(d.checkpoint), d.why]),
    [
      ['step-0000003', 'replaced'],
      ['step-0000005', 'later step'],
    ],
  );
  assert.equal(resolveCheckpoint(stage), r.checkpoint);
  const back = modelFromCheckpoint(loadCheckpoint(r.checkpoint));
  const orig = modelFromCheckpoint(loadCheckpoint(ck));
  assert.deepEqual(ourLogits(back, [1, 2, 3]), ourLogits(orig, [1, 2, 3]));

  // another model's earlier steps (wider) go: the stage's history would mix two models
  const other = join(tempDir(), 'base');
  saveCheckpoint(other, randomModel({ ...cfg, nEmbd: 32 }), { stage: 'pretrain', step: 1, tokenizerJSON: json, tokenizerHash: hash });
  saveCheckpoint(other, randomModel(cfg), { stage: 'pretrain', step: 2, tokenizerJSON: json, tokenizerHash: 'another tokenizer', keepLast: 0 });
  const o = importHuggingFace(out, other, { force: true });
  assert.deepEqual(steps(other), ['step-0000003']);
  assert.deepEqual(
    o.removed.map((d) => [d.step, d.why]),
    [
      [1, 'another model'],
      [2, 'another model'],
    ],
  );
});
