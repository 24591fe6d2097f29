// Public API of gptforge, layer by layer (see ARCHITECTURE.md).
export * from './util/errors.js';
