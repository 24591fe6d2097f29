// Model loading lives in the run layer; the CLI modules import it from here.
export { loadModel, type LoadedModel } from '../run/models.js';
