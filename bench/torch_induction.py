"""PyTorch's side of bench/rag-induction.ts: the same batches, model, init, AdamW and schedule.

Usage: torch_induction.py DIR SPEC_JSON — DIR holds train_ids.bin / train_targets.bin (int32,
steps x B x T) and eval_ids.bin / eval_targets.bin (int32, evalBatches x B x T; targets -1 are
not scored) written by the TypeScript side. Prints one JSON line: {"curve": [{step, loss, acc}],
"seconds"} — loss and argmax accuracy over the eval targets that are not -1. One thread.
"""
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from torch_model import GPT  # noqa: E402

d, spec = sys.argv[1], json.loads(sys.argv[2])
torch.set_num_threads(1)
torch.manual_seed(spec['seed'])
V, T, B, steps = spec['V'], spec['T'], spec['B'], spec['steps']


def load(name, n):
    return torch.from_numpy(np.fromfile(f'{d}/{name}.bin', dtype=np.int32).astype(np.int64).reshape(n, B, T))


train_ids, train_targets = load('train_ids', steps), load('train_targets', steps)
eval_ids, eval_targets = load('eval_ids', spec['evalBatches']), load('eval_targets', spec['evalBatches'])
model = GPT(V, T, spec['nLayer'], spec['nHead'], spec['nEmbd'], bias=True, position=spec['position'])
opt = model.optimizer(spec['lr'], spec['wd'], (0.9, spec['beta2']))


def get_lr(it):
    lr, min_lr, warmup = spec['lr'], spec['minLr'], spec['warmup']
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it >= steps:
        return min_lr
    ratio = (it - warmup) / max(1, steps - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def logits_of(idx):
    """The model's logits [B, T, V] (torch_model.GPT.forward returns the loss only)."""
    x = model.wte(idx) if model.wpe is None else model.wte(idx) + model.wpe(torch.arange(idx.shape[1]))
    for blk in model.h:
        x = blk(x)
    return model.ln_f(x) @ model.wte.weight.t()


def evaluate():
    nats, right, n = 0.0, 0, 0
    with torch.no_grad():
        for i in range(eval_ids.shape[0]):
            lg = logits_of(eval_ids[i]).view(-1, V)
            y = eval_targets[i].view(-1)
            keep = y >= 0
            lg, y = lg[keep], y[keep]
            nats += float(F.cross_entropy(lg, y, reduction='sum'))
            right += int((lg.argmax(-1) == y).sum())
            n += int(y.numel())
    return nats / n, right / n


curve = []
loss0, acc0 = evaluate()
curve.append({'step': 0, 'loss': loss0, 'acc': acc0})
t0 = time.perf_counter()
for it in range(steps):
    for g in opt.param_groups:
        g['lr'] = get_lr(it)
    # torch_model.GPT.forward's cross_entropy: ignore_index -100 by default, our targets use -1
    x, y = train_ids[it], train_targets[it]
    lg = logits_of(x)
    loss = F.cross_entropy(lg.view(-1, V), y.view(-1), ignore_index=-1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    step = it + 1
    if step % spec['evalEvery'] == 0 or step == steps:
        lo, acc = evaluate()
        curve.append({'step': step, 'loss': lo, 'acc': acc})
        print(f'  torch step {step}: scored loss {lo:.3f}, acc {100 * acc:.1f}%', file=sys.stderr, flush=True)
print(json.dumps({'curve': curve, 'seconds': time.perf_counter() - t0}))
