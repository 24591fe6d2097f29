/* A persistent thread pool: the calling thread plus (n-1) workers that spin briefly between
 * jobs (kernels arrive back to back during training) and sleep when idle.
 * Tasks are claimed dynamically but every task computes a fixed slice, so results never
 * depend on which thread ran what: outputs are bitwise identical for any thread count. */
#ifndef GPTFORGE_POOL_H
#define GPTFORGE_POOL_H

#include <stddef.h>

/* The pause in a spin-wait loop (for the pool's workers and for kernels that wait on each
 * other inside one job: native/sgemm.c's decode rescue). */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POOL_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define POOL_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define POOL_CPU_RELAX() ((void)0)
#endif

/* The most bytes of context pool_run_rescue copies into its job */
#define POOL_CTX_MAX 256

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

/* A short job (as pool_run_short) whose tasks the caller can finish itself: after running the
 * tasks it claimed, it calls rescue(ctx, ntasks) instead of waiting for the workers', and
 * returns when rescue does. rescue must make every task's result final without waiting for a
 * worker that is not running (on a shared machine a worker can be preempted for milliseconds
 * in the middle of a task): it recomputes unfinished tasks and commits the first of the two
 * results, which the tasks must support (native/sgemm.c's decode products do). ctx (ctx_size
 * bytes, at most POOL_CTX_MAX) is copied into the job, which outlives the call: a worker still inside a
 * task after rescue returned reads that copy, never the caller's stack. Returns 1 when every
 * worker was awake (spinning) as the job was published, so a task the caller had to finish
 * says the worker lost its core, not that it was still waking up; else 0. */
typedef void (*pool_rescue_fn)(void *ctx, int ntasks);
int pool_run_rescue(pool_task_fn fn, pool_rescue_fn rescue, const void *ctx, size_t ctx_size, int ntasks);
/* Whether a worker is asleep (or not yet running again after a wake-up). */
int pool_asleep(void);
/* Wake sleeping workers for a burst of short jobs (their spin renewed as after one), without
 * waiting: the caller goes on with its work meanwhile (a futex wake-up, then tens of µs or far
 * more on a busy machine until the worker runs). */
void pool_wake_short(void);

#endif
