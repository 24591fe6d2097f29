"""Times one GPT training step (forward + backward + AdamW) in PyTorch.

Usage: torch_gpt_step.py n_layer n_head n_embd block batch vocab threads steps [learned|rope]
Prints one JSON line: {"threads":…, "ms_median":…, "ms_best":…}.
"""
import json
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from torch_model import GPT  # noqa: E402

n_layer, n_head, n_embd, block, batch, vocab, threads, steps = map(int, sys.argv[1:9])
torch.set_num_threads(threads)
torch.manual_seed(0)
position = sys.argv[9] if len(sys.argv) > 9 else 'learned'
model = GPT(vocab, block, n_layer, n_head, n_embd, position=position)
opt = model.optimizer(1e-3, 0.1, (0.9, 0.99))
x = torch.randint(0, vocab, (batch, block))
y = torch.randint(0, vocab, (batch, block))
times = []
for i in range(steps + 3):
    t0 = time.perf_counter()
    loss = model(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    dt = time.perf_counter() - t0
    if i >= 3:
        times.append(dt * 1000)
times.sort()
print(json.dumps({'threads': threads, 'ms_median': times[len(times) // 2], 'ms_best': times[0], 'loss': float(loss)}))
