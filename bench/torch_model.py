"""A plain GPT-2-shaped model in PyTorch: the reference our engine is timed against.

Same architecture as gptforge's default GPT (learned positions, pre-LayerNorm, GELU(tanh)
MLP 4x wide, tied embeddings, biases, no dropout), written for this benchmark; with
position='rope', rotary embeddings as gptforge applies them (pairs (2i, 2i+1) of each head's
q and k rotated by pos / 10000^(2i/D), no position table).
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch 1.13's has no bias=False)."""
    def __init__(self, n, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


def rope(x, cos, sin):
    """Rotate pairs (2i, 2i+1) of the last axis: x is (B, H, T, D), cos/sin are (T, D/2)."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, n_embd, n_head, bias=True):
        super().__init__()
        self.n_head = n_head
        self.rope_tables = None
        self.ln_1 = LayerNorm(n_embd, bias)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.ln_2 = LayerNorm(n_embd, bias)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.mlp_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.rope_tables is not None:
            cos, sin = self.rope_tables
            q, k = rope(q, cos[:T], sin[:T]), rope(k, cos[:T], sin[:T])
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(F, 'scaled_dot_product_attention') else self._attn(q, k, v, T)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate='tanh'))
        return x

    @staticmethod
    def _attn(q, k, v, T):
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        att = att.masked_fill(~mask, float('-inf'))
        return F.softmax(att, dim=-1) @ v


class GPT(nn.Module):
    def __init__(self, vocab, block, n_layer, n_head, n_embd, bias=True, position='learned'):
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block, n_embd) if position == 'learned' else None
        self.h = nn.ModuleList([Block(n_embd, n_head, bias) for _ in range(n_layer)])
        if position == 'rope':
            D = n_embd // n_head
            inv = 10000.0 ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
            ang = torch.arange(block, dtype=torch.float64)[:, None] * inv[None, :]
            for blk in self.h:
                blk.rope_tables = (torch.cos(ang).float(), torch.sin(ang).float())
        self.ln_f = LayerNorm(n_embd, bias)
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith('c_proj.weight') or name.endswith('mlp_proj.weight'):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, idx, targets):
        B, T = idx.shape
        x = self.wte(idx) if self.wpe is None else self.wte(idx) + self.wpe(torch.arange(T))
        for blk in self.h:
            x = blk(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    def optimizer(self, lr, weight_decay, betas):
        decay = [p for p in self.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.parameters() if p.dim() < 2]
        return torch.optim.AdamW([{'params': decay, 'weight_decay': weight_decay},
                                  {'params': no_decay, 'weight_decay': 0.0}], lr=lr, betas=betas)
