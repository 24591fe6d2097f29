import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The server's Prometheus metrics (text format at GET /metrics), on a registry of its own. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'gptforge_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: [this.registry] });
  readonly promptTokens = new Counter({ name: 'gptforge_prompt_tokens_total', help: 'Prompt tokens processed', labelNames: ['model'], registers: [this.registry] });
  readonly generationTokens = new Counter({ name: 'gptforge_generation_tokens_total', help: 'Tokens sampled', labelNames: ['model'], registers: [this.registry] });
  // vLLM's pair (vllm:prefix_cache_queries / vllm:prefix_cache_hits, both in tokens): hits ÷ queries is the hit rate
  readonly prefixCacheQueries = new Counter({ name: 'gptforge_prefix_cache_queries_total', help: 'Prompt tokens looked up in the prefix cache (every prompt while it is on)', labelNames: ['model'], registers: [this.registry] });
  readonly prefixCacheHits = new Counter({ name: 'gptforge_prefix_cache_hits_total', help: 'Prompt tokens reused from the prefix cache (not prefilled again)', labelNames: ['model'], registers: [this.registry] });
  readonly queued = new Gauge({ name: 'gptforge_queue_rows', help: 'Rows waiting for a batch', labelNames: ['model'], registers: [this.registry] });
  readonly running = new Gauge({ name: 'gptforge_running_rows', help: 'Rows being decoded', labelNames: ['model'], registers: [this.registry] });
  readonly batchRows = new Histogram({ name: 'gptforge_batch_rows', help: 'Rows per decoding step (continuous batching)', buckets: [1, 2, 4, 8, 16, 32], registers: [this.registry] });
  readonly stepSeconds = new Histogram({ name: 'gptforge_step_seconds', help: 'Duration of one decoding step (its prefills, sampling and forward pass)', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [this.registry] });
  readonly ttft = new Histogram({ name: 'gptforge_time_to_first_token_seconds', help: 'Request arrival to first sampled token', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
  readonly duration = new Histogram({ name: 'gptforge_request_duration_seconds', help: 'Request duration', labelNames: ['route'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60], registers: [this.registry] });
}
