/**
 * Batches of token rows of different lengths for the stages that score whole sequences
 * (reward model, RL, DPO): right-padded to the longest row. Causal attention means padding
 * after a row's end never changes what is computed at the row's real tokens, so no mask is
 * needed; padded target positions are −1 (ignored by the cross-entropy).
 */

/** (B, T) ids: row b is seqs[b] (cut to T) then padId. */
export function padRows(seqs: readonly (readonly number[])[], T: number, padId: number): Int32Array {
  const ids = new Int32Array(seqs.length * T).fill(padId);
  seqs.forEach((s, b) => ids.set(s.length > T ? s.slice(0, T) : s, b * T));
  return ids;
}

/**
 * Inputs and next-token targets for log-probs at chosen positions of each row: T = the
 * longest row − 1; inputs (B, T) right-padded; the target of position p of row b (the token
 * ids[p], predicted from p − 1) sits at flat row b·T + p − 1, every other target is −1.
 * `rowsOf[b]` lists row b's flat rows in the order of its positions.
 *
 * @throws Error (naming `who`) when T exceeds the model's context `blockSize`.
 */
export function nextTokenBatch(seqs: readonly { ids: readonly number[] }[], positionsOf: (b: number) => Iterable<number>, padId: number, blockSize: number, who: string): { ids: Int32Array; targets: Int32Array; T: number; rowsOf: number[][] } {
  const B = seqs.length;
  const T = Math.max(...seqs.map((s) => s.ids.length)) - 1;
  if (T > blockSize) throw new Error(`${who}: a sequence of ${T + 1} tokens exceeds the context ${blockSize}`);
  const ids = padRows(
    seqs.map((s) => s.ids),
    T,
    padId,
  );
  const targets = new Int32Array(B * T).fill(-1);
  const rowsOf = seqs.map((s, b) => {
    const rows: number[] = [];
    for (const p of positionsOf(b)) {
      targets[b * T + p - 1] = s.ids[p];
      rows.push(b * T + p - 1);
    }
    return rows;
  });
  return { ids, targets, T, rowsOf };
}
