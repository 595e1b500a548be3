"""Benchmarks of PSM against its baselines, with committed results.

```
python -m benchmarks locomo       [--data PATH] [--limit N]   LoCoMo evidence recall@k per category
python -m benchmarks longmemeval  [--data PATH] [--limit N]   LongMemEval recall_all/any@k, ndcg_any@k
python -m benchmarks latency      [--sizes 1000,10000,100000] observe/recall p50/p95 beside the raw floor
python -m benchmarks diagnose     locomo|longmemeval           where PSM loses to a baseline, with examples
python -m benchmarks memops       [--split test] [--bulk]       memory operations: scenarios, LongMemEval KU, BEAM
```
Modules: data (loaders), metrics (official recipes), cache (on-disk embedding cache), systems (BM25,
raw vector store), psm_system (PSM through its public API), report/summary/plots (tables, files,
PNGs). Any other module of this package with a ``main(argv)`` runs as ``python -m benchmarks NAME``.
"""

__all__: list[str] = []
