import { GptforgeError } from '../../util/errors.js';
import type { GPTConfig } from '../config.js';

/**
 * Weight-layout helpers shared by the Hugging Face and GGUF writers.
 *
 * Our GPT stores linear weights as GPT-2's Conv1D does, [in, out] row-major, and packs
 * attention as c_attn's output columns [q (all heads) | k | v], each head's D columns
 * contiguous. Our rotary embedding rotates adjacent pairs (2i, 2i+1) of a head with
 * frequency base^(−2i/D) (src/engine/ops.ts rope, the RoFormer/GPT-J "interleaved" form).
 * GPT-NeoX (transformers' modeling_gpt_neox.py rotate_half) and llama.cpp's NEOX rope
 * rotate pairs (i, i + D/2) with the same frequency. Both attention scores q·k are
 * unchanged when q and k get the same permutation of their coordinates, so exporting for
 * NeoX permutes each head's q and k output columns: ours 2i → i, ours 2i+1 → D/2 + i.
 */

/** Transpose a row-major [rows, cols] matrix → [cols, rows]. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  if (a.length !== rows * cols) throw new Error(`transpose: ${a.length} elements is not ${rows}×${cols}`);
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/**
 * Position within a head in NeoX (rotate_half) order → position in ours (interleaved pairs).
 * NeoX index j < D/2 holds the first element of pair j; j ≥ D/2 the second of pair j − D/2.
 */
export function neoxToOurs(j: number, D: number): number {
  const half = D / 2;
  return j < half ? 2 * j : 2 * (j - half) + 1;
}

/**
 * Our c_attn output column for (part 0=q,1=k,2=v, head h, NeoX within-head index j),
 * with q and k de-rotated to our pair order when `rotary` (v is never rotated).
 */
export function ourQkvColumn(part: number, h: number, j: number, C: number, D: number, rotary: boolean): number {
  return part * C + h * D + (rotary && part < 2 ? neoxToOurs(j, D) : j);
}

/**
 * What GPT-2 (learned positions) or GPT-NeoX (rotary) cannot express of our config, as a
 * list of "field: value (why)" strings; empty when the export is exact.
 */
export function unsupportedFeatures(c: GPTConfig): string[] {
  const out: string[] = [];
  if (c.norm !== 'layernorm') out.push(`norm: ${c.norm} (GPT-2 and GPT-NeoX use LayerNorm)`);
  if (c.mlp !== 'gelu') out.push(`mlp: ${c.mlp} (GPT-2 and GPT-NeoX have a GELU MLP)`);
  // trained on randomized position ids, the model expects them in decoding too; GPT-NeoX and llama.cpp use 0..T-1
  if (c.randomPositions !== undefined) out.push(`randomPositions: ${c.randomPositions} (GPT-NeoX and llama.cpp decode with positions 0..T−1; this model was trained and decodes with randomized ones)`);
  if (c.abacus) out.push("abacus: digit column embeddings (neither has them, and their ids need gptforge's per-token rules)");
  return out;
}

/** Throw naming every feature of `c` the target architecture cannot express. */
export function assertExportable(c: GPTConfig, file: string): void {
  const bad = unsupportedFeatures(c);
  if (bad.length > 0) {
    throw new GptforgeError(`cannot export this architecture exactly: ${bad.join('; ')}. Exportable: LayerNorm + GELU MLP, learned positions (→ GPT-2) or rotary (→ GPT-NeoX)`, {
      file,
      field: bad.map((b) => `model.${b.slice(0, b.indexOf(':'))}`).join(', '), // each offending config key, e.g. model.randomPositions
    });
  }
}
