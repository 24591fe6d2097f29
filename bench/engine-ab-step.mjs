// node engine-ab-step.mjs ROOT THREADS STEPS: the GPU-config training step (bench/engine.ts's:
// forward, backward, clip, AdamW) of the tree at ROOT (its dist/ and its own addon), after 2
// warm-up steps; prints one JSON line {root, threads, ms: [each step's wall ms], cpu: [...]}
const [root, threads, steps] = process.argv.slice(2);
const { STEP_CONFIGS, stepSetup } = await import(`${root}/dist/bench/engine-configs.js`);
const { getKernels } = await import(`${root}/dist/src/engine/backend.js`);
const { clipScale, gradNorm } = await import(`${root}/dist/src/engine/optim.js`);
const { resetArena, setArenaEnabled } = await import(`${root}/dist/src/engine/tensor.js`);
getKernels().setThreads?.(Number(threads));
const c = STEP_CONFIGS.find((x) => x.name === 'gpu');
const { model, opt, ids, targets } = stepSetup(c);
setArenaEnabled(true);
const ms = [];
const cpu = [];
for (let i = 0; i < Number(steps) + 2; i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  resetArena();
  opt.zeroGrad();
  const loss = model.loss(ids, targets, c.batch, c.block);
  loss.backward();
  opt.step(clipScale(gradNorm(model.parameters()), 1));
  const dc = process.cpuUsage(c0);
  if (i >= 2) {
    ms.push(performance.now() - t0);
    cpu.push((dc.user + dc.system) / 1000);
  }
}
console.log(JSON.stringify({ root, threads: Number(threads), ms, cpu }));
