// Fine-tune a run's SFT model on conversations held in memory, then ask it.
//   npm run build && node dist/examples/finetune.js runs/tiny
import { ChatEngine, loadModel, runSft, type Conversation } from '../src/index.js';

const runDir = process.argv[2] ?? 'runs/tiny';
const qa = (q: string, a: string): Conversation => ({
  messages: [
    { role: 'user', content: q },
    { role: 'assistant', content: a },
  ],
});
const conversations: Conversation[] = [qa('Who are you?', 'I am Forge, a small assistant.'), qa('What is your name?', 'My name is Forge.'), qa('Who made you?', 'I was trained with gptforge.'), qa('Say hello.', 'Hello from Forge!')];

const controller = new AbortController();
process.once('SIGINT', () => controller.abort()); // Ctrl-C: finish the step, save, return

const result = await runSft(runDir, {
  from: 'sft', // start from the run's SFT model …
  into: 'sft-forge', // … and write <run>/sft-forge (its own checkpoints and metrics.jsonl stage)
  conversations,
  onlyData: true,
  maxSteps: 30,
  fresh: true,
  quiet: true,
  signal: controller.signal,
  onStep: (r) => console.log(`step ${r.step} loss ${Number(r.loss).toFixed(4)}`),
});
console.log(`${result.interrupted ? 'stopped' : 'done'} at step ${result.step}; checkpoint ${result.checkpoint}`);

const { model, tok } = loadModel(runDir, 'sft-forge');
const reply = new ChatEngine(model, tok).reply({ messages: [{ role: 'user', content: 'Who are you?' }] }, { temperature: 0, maxTokens: 24 });
console.log(`assistant> ${reply.text}`);
