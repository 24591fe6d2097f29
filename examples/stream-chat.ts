// Stream a chat reply from a run's model, with the calculator tool.
//   npm run build && node dist/examples/stream-chat.js runs/tiny "What is 4821 times 37?"
import { ChatEngine, defaultTools, loadModel } from '../src/index.js';

const [runDir = 'runs/tiny', question = 'What is 4821 times 37?', seed = '1'] = process.argv.slice(2);
const { model, tok, dir } = loadModel(runDir); // the newest of rl → sft → base
console.error(`model: ${dir}`);
const engine = new ChatEngine(model, tok);
const conversation = { messages: [{ role: 'user' as const, content: question }] };
const controller = new AbortController(); // a server would abort on a client hang-up
process.once('SIGINT', () => controller.abort());

process.stdout.write('assistant> ');
for await (const e of engine.stream([conversation], [Number(seed)], { tools: defaultTools(), maxTokens: 64, temperature: 0.7 }, [controller.signal])) {
  if (e.type === 'token')
    process.stdout.write(e.text); // UTF-8-safe text deltas; stop strings never leak
  else console.log(`\n[finish: ${e.result.finishReason}, ${e.result.ids.length} tokens]`);
}
