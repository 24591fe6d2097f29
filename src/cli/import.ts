import { Command } from '@commander-js/extra-typings';
import { GptforgeError } from '../util/errors.js';

export const command = new Command('import')
  .summary('import a Hugging Face GPT-2 / GPT-NeoX directory as a gptforge checkpoint')
  .description(
    'Reads a transformers directory (config.json, model.safetensors or its shards, tokenizer.json): GPT-2, or GPT-NeoX with rotary_pct 1.0, use_parallel_residual false and the tanh GELU. Config values that change the maths in ways gptforge does not implement are refused by name. The result is a checkpoint that sample, chat, eval and the training stages read (e.g. import to runs/x/base, then "gptforge sft --run runs/x").',
  )
  .argument('[hf-dir]', 'the Hugging Face directory')
  .option('-o, --out <dir>', 'stage directory to write (e.g. runs/x/base); the checkpoint goes in step-N, N the step the export recorded (gptforge.step in config.json), else 0')
  .option('--force', 'replace the checkpoint --out holds at the imported step, and remove its later steps (refused without it); earlier steps of the same model stay, of another model go')
  .option('--stage <name>', 'stage name recorded in the checkpoint (default: the one the export recorded, else "import")')
  .action(async (src, o) => {
    if (!src) throw new GptforgeError('give the Hugging Face directory to import');
    if (!o.out) throw new GptforgeError('give --out <stage dir>, e.g. runs/imported/base');
    const { importHuggingFace } = await import('../model/export/hf.js');
    const r = importHuggingFace(src, o.out, { stage: o.stage, force: o.force });
    // --force deletes checkpoints: say which and why, one line each
    const why = { replaced: 'replaced by the import at the same step', 'later step': 'a later step, which every reader would take over the import', 'another model': 'an earlier step of another model (config, tokenizer or weights kind differ)' } as const;
    for (const d of r.removed) console.log(`import: removed ${d.checkpoint}: ${why[d.why]}`);
    console.log(`import: ${src} (${r.arch}, ${r.config.nLayer} layers, ${r.config.nEmbd} wide, vocabulary ${r.config.vocabSize}) → ${r.checkpoint}`);
  });
