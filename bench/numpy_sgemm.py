"""numpy (OpenBLAS) sgemm timings for bench/engine-sgemm.ts, served one block at a time so the
caller can interleave them with its own (ABAB per shape: a vCPU the host takes away for a while
then costs both sides alike). Usage: numpy_sgemm.py threads — then one request per stdin line,
{"M": .., "K": .., "N": .., "layout": "NN"|"NT"|"TN", "reps": r, "gap": seconds}, answered by
one JSON line {"times": [s, ...], "cpu": [s, ...]}: wall and process CPU seconds of each of
the r products (after one untimed warm-up when the shape or layout changes). After the block
the process sleeps `gap` seconds before answering: OpenBLAS's idle threads spin for tens of
milliseconds after a call, and must not run while the caller times its own products."""
import json
import sys
import time

import numpy as np

threads = int(sys.argv[1])
rng = np.random.default_rng(0)
key = None
A = B = out = None
for line in sys.stdin:
    req = json.loads(line)
    M, K, N, layout = req['M'], req['K'], req['N'], req['layout']
    if key != (M, K, N, layout):
        key = (M, K, N, layout)
        a = rng.standard_normal((K, M) if layout[0] == 'T' else (M, K), dtype=np.float32)
        b = rng.standard_normal((N, K) if layout[1] == 'T' else (K, N), dtype=np.float32)
        A = a.T if layout[0] == 'T' else a
        B = b.T if layout[1] == 'T' else b
        out = np.empty((M, N), dtype=np.float32)
        np.matmul(A, B, out=out)
    times = []
    cpu = []
    for _ in range(int(req['reps'])):
        c0 = time.process_time()
        t0 = time.perf_counter()
        np.matmul(A, B, out=out)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    time.sleep(float(req.get('gap', 0)))
    sys.stdout.write(json.dumps({'times': times, 'cpu': cpu, 'threads': threads}) + '\n')
    sys.stdout.flush()
