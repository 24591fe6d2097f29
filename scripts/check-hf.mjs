// `npm run check:hf`: verify gptforge's Hugging Face export with transformers, tokenizers
// and TRL in a Python environment (not part of CI: it needs PyTorch). Without the Python
// packages it says what to install and exits 0. See scripts/check_hf.py for the checks.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const python = process.env.PYTHON ?? 'python3';
const need = ['torch', 'transformers', 'tokenizers', 'safetensors', 'numpy'];
const probe = spawnSync(python, ['-c', `import importlib.util,sys; m=[n for n in ${JSON.stringify(need)} if importlib.util.find_spec(n) is None]; print(' '.join(m))`], { encoding: 'utf8' });
if (probe.status !== 0 || probe.stdout.trim() !== '') {
  const missing = probe.status !== 0 ? `${python} (not found)` : probe.stdout.trim();
  console.log(`check:hf needs a Python environment with PyTorch and the Hugging Face libraries; missing: ${missing}.`);
  console.log('Install them (e.g. in a virtualenv) and run again:  pip install torch transformers tokenizers safetensors numpy peft trl datasets');
  console.log('Set PYTHON=/path/to/python to use another interpreter. Nothing was checked.');
  process.exit(0);
}

const dist = (p) => import(join(root, 'dist', p));
const { trainTokenizer } = await dist('src/tokenizer/index.js');
const { GPT } = await dist('src/model/gpt.js');
const { makeConfig } = await dist('src/model/config.js');
const { saveCheckpoint, loadCheckpoint, resolveCheckpoint, modelFromCheckpoint } = await dist('src/model/checkpoint.js');
const { exportHuggingFace, importHuggingFace } = await dist('src/model/export/hf.js');
const { trlSftLine } = await dist('src/data/export.js');
const { renderConversation, renderPrompt } = await dist('src/data/chat.js');
const { noGrad } = await dist('src/engine/tensor.js');
const { Rng } = await dist('src/engine/rng.js');
const { LoraModel } = await dist('src/model/lora.js');
const { saveAdapter, readAdapter } = await dist('src/model/export/peft.js');
const { adapterForHf, writeHfAdapter } = await dist('src/model/export/peft-hf.js');

const work = mkdtempSync(join(tmpdir(), 'gf-check-hf-'));
const moby = readFileSync(join(root, 'node_modules', '@stdlib', 'datasets-moby-dick', 'data', 'data.txt'), 'utf8');
const tok = trainTokenizer([moby.slice(0, 200_000)], { vocabSize: 600 });
const texts = [moby.slice(300_000, 340_000), 'def f(x):\n\treturn x ** 2  # 12345\n\n\n', 'naïve café 中文 😀 Привет 3.14159 1,000,000', '   leading and trailing   \n'];
const ids = tok.encode('Call me Ishmael. Some years ago — never mind how long precisely', { disallowedSpecial: 'plain' }).slice(0, 24);
const rng = new Rng(5);
const models = [];
for (const position of ['learned', 'rope']) {
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64, position }), { seed: 3 });
  // random biases and norm gains too, so a misplaced tensor cannot hide behind zeros and ones
  for (const [name, t] of model.params) if (!name.includes('.weight') || /ln_/.test(name)) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.1 * rng.normal();
  const ck = saveCheckpoint(join(work, position, 'base'), model, { stage: 'sft', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
  const dir = join(work, `hf-${position}`);
  const { arch } = exportHuggingFace(loadCheckpoint(ck), dir);
  const logits = noGrad(() => model.forward(Int32Array.from(ids), 1, ids.length)).data;
  const entry = { dir, arch, logits: Array.from(logits) };
  {
    // a LoRA adapter on every linear, B random (a fresh one is a no-op), saved in PEFT's files and
    // converted for this export's architecture (GPT-NeoX module names and row order for rope)
    const lm = new LoraModel(model);
    const a = lm.addAdapter('default', { r: 4, alpha: 8, dropout: 0, targets: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'], rslora: false, seed: 7 });
    for (const p of a.pairs) for (let i = 0; i < p.B.size; i++) p.B.data[i] = 0.05 * rng.normal();
    const ours = join(work, `lora-${position}`);
    mkdirSync(ours, { recursive: true });
    saveAdapter(ours, lm, 'default', { model: model.config, tokenizerHash: tok.hash() }, dir);
    const adapterDir = join(work, `peft-${position}`);
    writeHfAdapter(adapterDir, adapterForHf(readAdapter(ours), model.config, dir), model.config);
    entry.peft = { dir: adapterDir, logits: Array.from(noGrad(() => model.forward(Int32Array.from(ids), 1, ids.length)).data) };
  }
  models.push(entry);
}
const chats = [
  {
    messages: [
      { role: 'user', content: 'What is 12 times 34?' },
      { role: 'assistant', content: 'It is 408.' },
    ],
  },
  {
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Compute 4821 * 37' },
      { role: 'assistant', content: 'Sure.', tool_call: { name: 'calculator', input: '4821 * 37' } },
      { role: 'tool', content: '178377' },
      { role: 'assistant', content: ' 178377.' },
    ],
  },
].map((c) => {
  const lastUser = c.messages.map((m) => m.role).lastIndexOf('user');
  const promptMessages = c.messages.slice(0, lastUser + 1);
  return { messages: c.messages, ids: renderConversation(tok, c).ids, promptMessages, promptIds: renderPrompt(tok, { messages: promptMessages }) };
});
const sftFile = join(work, 'sft.jsonl');
writeFileSync(sftFile, Array.from({ length: 8 }, (_, i) => trlSftLine(chats[i % 2])).join('\n') + '\n');
const trlOut = join(work, 'trl-sft');
const fixture = join(work, 'fixture.json');
writeFileSync(fixture, JSON.stringify({ models, ids, texts, textIds: texts.map((t) => tok.encode(t, { disallowedSpecial: 'plain' })), chats, sftFile, trlOut }));
console.log(`check:hf: fixtures in ${work}`);
const r = spawnSync(python, [join(root, 'scripts', 'check_hf.py'), fixture], { stdio: 'inherit' });
let code = r.status ?? 1;
const hasTrl = spawnSync(python, ['-c', 'import trl, datasets'], { stdio: 'ignore' }).status === 0;
if (code === 0 && hasTrl) {
  try {
    const res = importHuggingFace(trlOut, join(work, 'trl-import', 'sft'));
    modelFromCheckpoint(loadCheckpoint(resolveCheckpoint(join(work, 'trl-import', 'sft'))));
    console.log(`PASS gptforge import of the TRL checkpoint (${res.arch}) → ${res.checkpoint}`);
  } catch (e) {
    console.log(`FAIL gptforge import of the TRL checkpoint: ${e.message}`);
    code = 1;
  }
}
process.exit(code);
