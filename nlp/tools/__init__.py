"""Offline NLP tools, apart from the runtime pipeline: rebuild the tables and the model (train, build_lexicon),
model selection on the dev part (select) and the throughput benchmark (bench). `narcowatch nlp` runs them."""
