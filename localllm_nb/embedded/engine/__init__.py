"""The llama.cpp engine: one xllamacpp instance per loaded model, its job queue and
options, prompt templates, grammars, the thinking budget, and the model manager that
loads and unloads engines."""
