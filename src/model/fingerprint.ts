import { createHash } from 'node:crypto';

/**
 * A fingerprint of a base model's weights, recorded with a LoRA adapter (`gptforge.base` in
 * adapter_model.safetensors' metadata) and compared when the adapter is loaded: two bases of one
 * config and tokenizer (two runs of a preset, or a base stage retrained in place) are told apart.
 *
 * It hashes (SHA-256) every tensor that holds the same values whatever the base's precision and
 * whatever adapter sits on it — the token table, the position table, every norm's weight and
 * bias, every linear's bias, an untied LM head — each as its name, element count and fp32 bytes,
 * in name order. Left out, and why: the block linears' weights (a q8_0/q4_0 base drops their fp32
 * copy, and a QLoRA adapter is merged onto the fp32 base, which must fingerprint alike) and
 * `score.*` (the adapter's own head). The token table must be the base's own: a LoraModel writes
 * its adapters' trainable token rows into it in place (modelFingerprint restores them first). So
 * a checkpoint that differs from another only in block linear weights (a merged LoRA stage without
 * token rows, and its base) reads the same; any other trained stage, or another seed, reads
 * differently. Shapes are the config's, which the adapter's check compares field by field.
 * Cost: one pass over those tensors (the token table dominates: V·C floats).
 * @param weights name → fp32 values (a checkpoint's weights, or `model.params`: tensors with `data`).
 * @returns `sha256:` and 64 hex digits.
 * @example baseWeightsFingerprint(new GPT(cfg, { seed: 1 }).params) // 'sha256:…', the same for every GPT(cfg, { seed: 1 })
 */
export function baseWeightsFingerprint(weights: Iterable<readonly [string, Float32Array | { readonly data: Float32Array }]>): string {
  const h = createHash('sha256');
  const kept = [...weights].filter(([name]) => fingerprinted(name)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, t] of kept) {
    const data = t instanceof Float32Array ? t : t.data;
    h.update(`${name}\0${data.length}\0`);
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return `sha256:${h.digest('hex')}`;
}

/** Block linear weights (LoRA's sites: attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_fc2, mlp.c_proj). */
const BLOCK_LINEAR = /^transformer\.h\.\d+\.(attn|mlp)\.[^.]+\.weight$/;

function fingerprinted(name: string): boolean {
  return !BLOCK_LINEAR.test(name) && !name.startsWith('score.');
}
