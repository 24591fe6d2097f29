// The layer order of docs/architecture.md ("Layers"), enforced: `npm run lint` (and so `npm test`)
// runs `depcruise src`, which fails on any import against it. dependency-cruiser reads the
// imports with TypeScript's own resolution (tsconfig.json), type-only imports included.

/** The layers, lowest first: each may import only from itself and the layers before it. */
const LAYERS = ['util', 'engine', 'tokenizer', 'model', 'data', 'infer', 'train', 'eval', 'rag', 'assist', 'run'];

/**
 * Modules that sit lower than their folder (architecture.md says why): a run directory's layout
 * and model loading, below `data` (assist's sweep and value model load models from a run); and
 * the RAG context block, a format that imports nothing, below `data` (the passages and lookup
 * families teach its exact layout).
 */
const LOW = ['src/run/layout\\.ts$', 'src/run/models\\.ts$', 'src/rag/context\\.ts$'];
const LOW_RE = `^(${LOW.join('|')})`;

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer}`,
  comment: `src/${layer}/ imports only from ${LAYERS.slice(0, i + 1).join(', ')} (docs/architecture.md, Layers)`,
  severity: 'error',
  from: { path: `^src/${layer}/`, pathNot: LOW_RE },
  to: {
    path: `^src/(${LAYERS.slice(i + 1).join('|')}|cli|server|index\\.ts)`,
    // the low modules are importable from data up
    ...(i >= LAYERS.indexOf('data') ? { pathNot: LOW_RE } : {}),
  },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'layer-low-modules',
      comment: 'run/layout.ts, run/models.ts and rag/context.ts sit just above model: they import only util, engine, tokenizer, model and each other',
      severity: 'error',
      from: { path: LOW_RE },
      to: { path: '^src/(data|infer|train|eval|rag|assist|run|cli|server|index\\.ts)', pathNot: LOW_RE },
    },
    {
      name: 'layer-run',
      comment: 'src/run/ (the runners) imports no face',
      severity: 'error',
      from: { path: '^src/run/' },
      to: { path: '^src/(cli|server|index\\.ts)' },
    },
    {
      name: 'faces-server-not-cli',
      comment: 'the server is a face of its own: the CLI may start it (serve), never the other way round',
      severity: 'error',
      from: { path: '^src/server/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'cli-commands-apart',
      comment: 'no command module imports another; shared pieces live in common.ts, interrupt.ts, log-format.ts; main.ts loads them; a command may keep its run apart in <command>-run.ts, loaded when it runs (chat.ts → chat-run.ts) (docs/architecture.md, faces)',
      severity: 'error',
      from: { path: '^src/cli/([^/]+)\\.ts$', pathNot: '^src/cli/main\\.ts$' },
      to: { path: '^src/cli/', pathNot: ['^src/cli/(common|interrupt|log-format)\\.ts$', '^src/cli/$1-run\\.ts$'] },
    },
    {
      name: 'public-api-on-top',
      comment: 'src/index.ts is the public API: nothing inside src imports it',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/index\\.ts$' },
      to: { path: '^src/index\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
