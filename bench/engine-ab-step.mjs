// node engine-ab-step.mjs ROOT THREADS STEPS: the GPU-config training step of the tree at ROOT
// (its dist/ and its own addon: model, optimizer, engine) timed by this tree's loop
// (dist/bench/engine-configs.js's timeSteps, the one bench/engine.ts and engine-profile.ts use),
// after 2 warm-up steps; prints one JSON line {root, threads, ms: [each step's wall ms], cpu: [...]}
const [root, threads, steps] = process.argv.slice(2);
const { timeSteps } = await import(new URL('../dist/bench/engine-configs.js', import.meta.url).href);
const { STEP_CONFIGS, stepSetup } = await import(`${root}/dist/bench/engine-configs.js`);
const { getKernels } = await import(`${root}/dist/src/engine/backend.js`);
const { clipScale, gradNorm } = await import(`${root}/dist/src/engine/optim.js`);
const { resetArena, setArenaEnabled } = await import(`${root}/dist/src/engine/tensor.js`);
getKernels().setThreads?.(Number(threads));
const c = STEP_CONFIGS.find((x) => x.name === 'gpu');
const engine = { resetArena, setArenaEnabled, gradNorm, clipScale };
const { ms, cpu } = timeSteps(stepSetup(c), c, { warm: 2, steps: Number(steps), engine });
console.log(JSON.stringify({ root, threads: Number(threads), ms, cpu }));
