"""nanoGPT's shakespeare_char CPU recipe in PyTorch, for side-by-side timing with gptforge.

Usage: torch_shakespeare.py data.txt iters threads [learned|rope]
Same recipe as bench/shakespeare.ts: char-level, first 90% train / last 10% val, n_layer 4,
n_head 4, n_embd 128, block 64, batch 12, lr 1e-3 → 1e-4 cosine over the run, warmup 100,
dropout 0, AdamW betas (0.9, 0.99), weight decay 0.1, grad clip 1.0, no biases. Random batch offsets
as nanoGPT's get_batch. Prints one JSON line with train seconds (steps only), the process CPU
seconds over the same steps, and val loss.
"""
import json
import math
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from torch_model import GPT  # noqa: E402

path, iters, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
position = sys.argv[4] if len(sys.argv) > 4 else 'learned'
torch.set_num_threads(threads)
torch.manual_seed(1337)
text = open(path, encoding='utf-8').read()
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
n = int(0.9 * len(data))
train_data, val_data = data[:n], data[n:]
block, batch = 64, 12
model = GPT(len(chars), block, 4, 4, 128, bias=False, position=position)  # nanoGPT's bias=False
opt = model.optimizer(1e-3, 0.1, (0.9, 0.99))


def get_batch(split):
    d = train_data if split == 'train' else val_data
    ix = torch.randint(len(d) - block, (batch,))
    x = torch.stack([d[i:i + block] for i in ix])
    y = torch.stack([d[i + 1:i + 1 + block] for i in ix])
    return x, y


def get_lr(it, warmup=100, lr=1e-3, min_lr=1e-4, decay=iters):
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > decay:
        return min_lr
    ratio = (it - warmup) / (decay - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


train_seconds = 0.0
cpu_seconds = 0.0  # process CPU time (every thread) over the same steps
for it in range(iters):
    t0 = time.perf_counter()
    c0 = time.process_time()
    for g in opt.param_groups:
        g['lr'] = get_lr(it)
    x, y = get_batch('train')
    loss = model(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    train_seconds += time.perf_counter() - t0
    cpu_seconds += time.process_time() - c0

model.eval()
losses = []
with torch.no_grad():
    for _ in range(200):
        x, y = get_batch('val')
        losses.append(float(model(x, y)))
print(json.dumps({'threads': threads, 'position': position, 'train_seconds': train_seconds, 'cpu_seconds': cpu_seconds, 'val_loss': sum(losses) / len(losses), 'iters': iters}))
