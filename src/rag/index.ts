// The retrieval library (docs/rag.md): ingest → chunk → embed → store → retrieve.
export { chunkText, approxTokens, contentHash, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_OVERLAP, type Chunk, type ChunkOptions, type TokenCounter } from './chunk.js';
export { readInputs, readIngestFile, listInputFiles, fileKind, INGEST_EXTENSIONS, type IngestFile, type IngestDoc, type IngestWarning, type IngestOptions, type FileKind } from './ingest.js';
export { RagStore, ftsQuery, BM25_K1, STORE_SCHEMA_VERSION, type StoreMeta, type FileRecord, type ChunkInput, type StoredChunk, type SearchFilter, type ScoredId, type OpenOptions, type QueryOptions, QUESTION_FRAME_WORDS, QUERY_STOP_WORDS } from './store.js';
export { MeanPoolEmbedder, weightsId, type Embedder, type MeanPoolOptions } from './embed.js';
export { indexInputs, indexIngestFile, documentsAsFile, chunkFile, storeMetaFor, defaultChunkSize, type IndexOptions, type IndexReport } from './indexer.js';
export { Retriever, reciprocalRankFusion, RRF_K, type RetrievalMode, type RetrieveOptions, type RetrievedChunk } from './retrieve.js';
export { chunkLines } from './lines.js';
export { dictionaryQuestions, dictionaryDocs, factQueries, relevantIds, isRelevant, evaluateMode, recallAt, hitAt, ndcgAt, KNOWLEDGE_FAMILIES, type EvalQuestion, type ModeResult } from './evaluate.js';
export { trainEmbedder, infoNCE, dictionaryPairs, type Pair, type ContrastiveOptions } from './contrastive.js';
export { contextBlock, passagePrompt, parsePassagePrompt, passageTitleText, citedNumbers, stripCitations, saysNoAnswer, oneLine, NO_ANSWER, PASSAGES_HEADER, QUESTION_LABEL, type Passage } from './context.js';
export { answerWithRetrieval, resolveCitations, fitPassages, passageSource, passageTitle, passageTitles, DICTIONARY_TITLES, chunkPassage, formatCitations, type RagAnswer, type RagAnswerOptions, type Citation } from './generate.js';
export { measureEffect, measurePassagesFamily, lookupProbe, type LookupProbe, effectMarkdown, openDictionaryStore, indexDictionaryEntries, ExcludingRetriever, DICTIONARY_STORE_OPTIONS, type EffectRow, type EffectCell, type EffectOptions } from './effect.js';
export { ModelReranker } from './rerank.js';
export { applyRelevanceCutoff, rocAuc, bestCutoff, smallStoreCutoffWarning, MIN_CUTOFF_CHUNKS, type RelevanceCutoff } from './relevance.js';
