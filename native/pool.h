/* A persistent thread pool: the calling thread plus (n-1) workers that spin briefly between
 * jobs (kernels arrive back to back during training) and sleep when idle.
 * Tasks are claimed dynamically but every task computes a fixed slice, so results never
 * depend on which thread ran what: outputs are bitwise identical for any thread count. */
#ifndef GPTFORGE_POOL_H
#define GPTFORGE_POOL_H

typedef void (*pool_task_fn)(void *ctx, int task, int ntasks);

void pool_init(int nthreads);
int pool_threads(void);
void pool_set_threads(int nthreads);
/* Run fn(ctx, i, ntasks) for i in [0, ntasks), in parallel; returns when all are done. */
void pool_run(pool_task_fn fn, void *ctx, int ntasks);
/* The same for a job too small to be worth waking a sleeping worker (a decode step's
 * attention: a few µs). Runs on the pool only while every worker is still awake (spinning
 * after a bigger job), else on the calling thread alone; either way without renewing the
 * workers' spin, so a stream of such jobs lets idle workers fall asleep instead of keeping
 * a core busy. Results are the same as pool_run's (every task computes a fixed slice). */
void pool_run_light(pool_task_fn fn, void *ctx, int ntasks);
/* pool_run for one of a burst of small jobs (a decode step's split linears, 10–100 µs each):
 * the workers spin only ~150 µs after it instead of ~1 ms, long enough to stay awake between
 * the kernels of one step, short enough to sleep between steps. Same tasks, same results. */
void pool_run_short(pool_task_fn fn, void *ctx, int ntasks);

#endif
