"""numpy (OpenBLAS) sgemm GFLOP/s for the given shapes in NN, NT and TN layouts, by wall time
and by the process's CPU time (cpu_gflops: flops / CPU seconds × threads, robust to other
processes sharing the cores). Usage: numpy_sgemm.py reps threads '[[M,K,N], ...]'
— prints one JSON line per figure."""
import json
import sys
import time

import numpy as np

reps = int(sys.argv[1])
threads = int(sys.argv[2])
shapes = json.loads(sys.argv[3])
rng = np.random.default_rng(0)
for M, K, N in shapes:
    for layout in ('NN', 'NT', 'TN'):
        a = rng.standard_normal((K, M) if layout[0] == 'T' else (M, K), dtype=np.float32)
        b = rng.standard_normal((N, K) if layout[1] == 'T' else (K, N), dtype=np.float32)
        A = a.T if layout[0] == 'T' else a
        B = b.T if layout[1] == 'T' else b
        out = np.empty((M, N), dtype=np.float32)
        np.matmul(A, B, out=out)
        times = []
        cpu = []
        for _ in range(reps):
            c0 = time.process_time()
            t0 = time.perf_counter()
            np.matmul(A, B, out=out)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        times.sort()
        cpu.sort()
        t = times[len(times) // 2]
        c = cpu[len(cpu) // 2]
        flops = 2 * M * K * N
        print(json.dumps({'M': M, 'K': K, 'N': N, 'layout': layout, 'gflops': flops / t / 1e9, 'cpu_gflops': flops / c * threads / 1e9 if c > 0 else None}))
