#define _GNU_SOURCE
#include "pool.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
/* Flush denormals to zero (FTZ) and read them as zero (DAZ) inside kernels: tiny values
 * (softmax tails, decayed embeddings of tokens a stage never sees, such as <|pad|>) would
 * otherwise take microcode assists that slow whole matmuls several-fold. The caller's (V8's)
 * floating-point mode is restored after every kernel, so JavaScript keeps IEEE semantics. */
#define FTZ_DAZ 0x8040u
#define FP_MODE_ENTER() unsigned saved_csr = _mm_getcsr(); _mm_setcsr(saved_csr | FTZ_DAZ)
#define FP_MODE_LEAVE() _mm_setcsr(saved_csr)
#define FP_MODE_WORKER() _mm_setcsr(_mm_getcsr() | FTZ_DAZ)
#elif defined(__aarch64__)
/* FPCR.FZ (bit 24): flush denormals to zero, as FTZ/DAZ above; restored after each kernel */
static inline unsigned long fpcr_get(void) { unsigned long r; __asm__ __volatile__("mrs %0, fpcr" : "=r"(r)); return r; }
static inline void fpcr_set(unsigned long r) { __asm__ __volatile__("msr fpcr, %0" : : "r"(r)); }
#define FP_MODE_ENTER() unsigned long saved_fpcr = fpcr_get(); fpcr_set(saved_fpcr | (1ul << 24))
#define FP_MODE_LEAVE() fpcr_set(saved_fpcr)
#define FP_MODE_WORKER() fpcr_set(fpcr_get() | (1ul << 24))
#else
#define FP_MODE_ENTER() ((void)0)
#define FP_MODE_LEAVE() ((void)0)
#define FP_MODE_WORKER() ((void)0)
#endif

#define CPU_RELAX() POOL_CPU_RELAX()
#define MAX_THREADS 64
/* How long a worker spins after a job before it sleeps, by kind of job (monotonic clock, ns):
 * a job from pool_run ~a millisecond (training's kernels arrive back to back); a short one,
 * from pool_run_short, SHORT_SPIN_NS: a decode step's split linears come every 10–80 µs of
 * norms, attention and JS glue, so the worker stays awake through the step and takes each
 * half at once, but the gap between steps (sampling, the server's HTTP side, the client on
 * the same machine) is longer, so it sleeps there instead of holding a core they need. */
#define SPIN_NS 1000000L
#define SHORT_SPIN_NS 150000L

/* One job. Jobs live in a ring of descriptors, not in one shared record: a rescued job (see
 * pool_run_rescue) returns while a preempted worker may still be inside one of its tasks, so
 * the next jobs must not reuse what that worker reads. A worker woken for generation g joins
 * RING[g % RING_N] (refs, then seq == g checked: seq_cst on both sides, so either it sees
 * the slot being rewritten and leaves, or the caller sees its reference and waits); the caller
 * rewrites a slot only when no worker holds it — RING_N jobs later, a millisecond or more. */
#define RING_N 256
#define CTX_MAX POOL_CTX_MAX
typedef struct {
  atomic_uint seq;   /* the generation the slot holds; 0 while it is being written */
  atomic_int refs;   /* workers inside the job */
  atomic_int next;
  atomic_int done;
  pool_task_fn fn;
  void *ctx;
  int ntasks;
  long spin_ns;      /* how long workers spin after it; 0: a light job (pool_run_light), which does not renew the spin */
  _Alignas(64) unsigned char ctx_copy[CTX_MAX]; /* a rescued job's context, which outlives the call */
} job_d;

static struct {
  int nthreads;      /* including the caller */
  int started;       /* workers created so far */
  pthread_t workers[MAX_THREADS];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_uint generation;
  atomic_int sleeping;
  int active;        /* workers allowed to take part (nthreads - 1) */
  job_d ring[RING_N];
} P = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void run_tasks(job_d *d) {
  for (;;) {
    int i = atomic_fetch_add_explicit(&d->next, 1, memory_order_acq_rel);
    if (i >= d->ntasks) break;
    d->fn(d->ctx, i, d->ntasks);
    atomic_fetch_add_explicit(&d->done, 1, memory_order_release);
  }
}

static long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void *worker_main(void *arg) {
  int id = (int)(long)arg;
  FP_MODE_WORKER();
  unsigned seen = atomic_load(&P.generation);
  long deadline = 0; /* spin until then, then sleep (the clock is read every 64 pauses) */
  for (;;) {
    unsigned g;
    int spins = 0;
    while ((g = atomic_load_explicit(&P.generation, memory_order_acquire)) == seen) {
      if ((++spins & 63) != 0 || now_ns() < deadline) {
        CPU_RELAX();
        continue;
      }
      pthread_mutex_lock(&P.mu);
      atomic_fetch_add(&P.sleeping, 1);
      while (atomic_load(&P.generation) == seen) pthread_cond_wait(&P.cv, &P.mu);
      atomic_fetch_sub(&P.sleeping, 1);
      pthread_mutex_unlock(&P.mu);
    }
    seen = g;
    job_d *d = &P.ring[g % RING_N];
    atomic_fetch_add(&d->refs, 1);
    if (atomic_load(&d->seq) == g) {
      /* A job renews the spin (more are likely to follow within it); a light one only uses
       * what is left of it, so a stream of light jobs (decode attention, one per layer) cannot
       * keep a worker spinning on a core the caller's other threads need, and a light job that
       * woke a sleeping worker (it raced the worker's falling asleep) lets it sleep again. */
      if (id < P.active) run_tasks(d);
      /* timed from the job's end, so a long job (a training sgemm) still leaves the spin after it */
      if (d->spin_ns > 0) deadline = now_ns() + d->spin_ns;
    }
    atomic_fetch_sub_explicit(&d->refs, 1, memory_order_release);
  }
  return NULL;
}

/* Once per process: the addon's init runs again in every worker thread that loads it (a
 * server's decode thread), and re-running this would reset a thread count the process set
 * at run time (setThreads) to the default or GPTFORGE_THREADS. */
static atomic_flag pool_inited = ATOMIC_FLAG_INIT;

void pool_init(int nthreads) {
  if (atomic_flag_test_and_set(&pool_inited)) return;
  if (nthreads < 1) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    nthreads = n > 0 ? (int)n : 1;
  }
  const char *env = getenv("GPTFORGE_THREADS");
  if (env && atoi(env) > 0) nthreads = atoi(env);
  pool_set_threads(nthreads);
}

int pool_threads(void) { return P.nthreads < 1 ? 1 : P.nthreads; }

void pool_set_threads(int nthreads) {
  if (nthreads < 1) nthreads = 1;
  if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
  while (P.started < nthreads - 1) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&P.workers[P.started], &attr, worker_main, (void *)(long)P.started) != 0) {
      pthread_attr_destroy(&attr);
      break;
    }
    pthread_attr_destroy(&attr);
    P.started++;
  }
  P.nthreads = nthreads <= P.started + 1 ? nthreads : P.started + 1;
  P.active = P.nthreads - 1;
}

/* every task on the calling thread, in order (the same slices, so the same results) */
static void ntasks_serial(pool_task_fn fn, void *ctx, int ntasks) {
  FP_MODE_ENTER();
  for (int i = 0; i < ntasks; i++) fn(ctx, i, ntasks);
  FP_MODE_LEAVE();
}

static unsigned last_gen; /* the caller's count of jobs published (one calling thread) */

/* The pool has one caller at a time: a thread that finds it taken (a server's decode thread
 * and the main thread, or two models' decode threads, running kernels at once) runs its tasks
 * itself, in order — the same slices, so the same results — instead of publishing a job over
 * the other caller's (which would overwrite its ring slot and leave it waiting forever). */
static atomic_flag caller = ATOMIC_FLAG_INIT;
static int pool_take(void) { return !atomic_flag_test_and_set_explicit(&caller, memory_order_acquire); }
static void pool_give(void) { atomic_flag_clear_explicit(&caller, memory_order_release); }

/* Publish a job in the next ring slot and wake sleeping workers; returns the slot. */
static job_d *publish(pool_task_fn fn, void *ctx, size_t ctx_size, int ntasks, long spin_ns) {
  unsigned g = ++last_gen;
  if (g == 0) g = ++last_gen; /* 0 marks a slot being written */
  job_d *d = &P.ring[g % RING_N];
  atomic_store(&d->seq, 0);
  while (atomic_load(&d->refs) != 0) CPU_RELAX(); /* a worker preempted inside this slot's old job */
  if (ctx_size) {
    memcpy(d->ctx_copy, ctx, ctx_size);
    ctx = d->ctx_copy;
  }
  d->fn = fn;
  d->ctx = ctx;
  d->ntasks = ntasks;
  d->spin_ns = spin_ns;
  atomic_store_explicit(&d->done, 0, memory_order_relaxed);
  atomic_store_explicit(&d->next, 0, memory_order_relaxed);
  atomic_store(&d->seq, g);
  atomic_store(&P.generation, g); /* seq_cst: pairs with the sleeping count so no wake-up is lost */
  if (atomic_load(&P.sleeping) > 0) {
    pthread_mutex_lock(&P.mu);
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
  }
  return d;
}

static void run_job(pool_task_fn fn, void *ctx, int ntasks, long spin_ns) {
  if (P.nthreads <= 1 || ntasks == 1 || !pool_take()) {
    ntasks_serial(fn, ctx, ntasks);
    return;
  }
  FP_MODE_ENTER();
  job_d *d = publish(fn, ctx, 0, ntasks, spin_ns);
  run_tasks(d);
  while (atomic_load_explicit(&d->done, memory_order_acquire) < ntasks) CPU_RELAX();
  FP_MODE_LEAVE();
  pool_give();
}

void pool_run(pool_task_fn fn, void *ctx, int ntasks) {
  if (ntasks <= 0) return;
  run_job(fn, ctx, ntasks, SPIN_NS);
}

void pool_run_short(pool_task_fn fn, void *ctx, int ntasks) {
  if (ntasks <= 0) return;
  run_job(fn, ctx, ntasks, SHORT_SPIN_NS);
}

void pool_run_light(pool_task_fn fn, void *ctx, int ntasks) {
  if (ntasks <= 0) return;
  /* a worker asleep: waking it (a futex call, then tens of µs until it runs) costs more than
   * the job, and keeps it spinning for the next; the caller runs every task itself */
  if (atomic_load(&P.sleeping) > 0) ntasks_serial(fn, ctx, ntasks);
  else run_job(fn, ctx, ntasks, 0); /* spin 0: a light job */
}

int pool_run_rescue(pool_task_fn fn, pool_rescue_fn rescue, const void *ctx, size_t ctx_size, int ntasks) {
  if (ntasks <= 0) return 0;
  if (ctx_size > CTX_MAX) abort();
  if (P.nthreads <= 1 || ntasks == 1 || !pool_take()) {
    ntasks_serial(fn, (void *)ctx, ntasks);
    return 0;
  }
  FP_MODE_ENTER();
  int awake = atomic_load(&P.sleeping) == 0;
  job_d *d = publish(fn, (void *)ctx, ctx_size, ntasks, SHORT_SPIN_NS);
  run_tasks(d);
  if (atomic_load_explicit(&d->done, memory_order_acquire) < ntasks) rescue(d->ctx, ntasks);
  FP_MODE_LEAVE();
  pool_give();
  return awake;
}

int pool_asleep(void) { return P.nthreads > 1 && atomic_load(&P.sleeping) > 0; }

/* an empty job: wakes sleeping workers (their spin renewed, short) without waiting for them */
static void noop_task(void *ctx, int task, int ntasks) { (void)ctx; (void)task; (void)ntasks; }
void pool_wake_short(void) {
  if (P.nthreads <= 1 || !pool_take()) return;
  publish(noop_task, NULL, 0, 0, SHORT_SPIN_NS);
  pool_give();
}
