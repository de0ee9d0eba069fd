"""memfix benchmarks: memfix against the best achievable and the stores people use today.

Run ``scripts/bench`` (or ``python -m benchmarks`` in an environment with memfix).
One module per concern:

- :mod:`benchmarks.harness`: contenders, interleaved rounds, GC on/off, statistics.
- :mod:`benchmarks.regime`: the pinned regime (client and server on one CPU).
- :mod:`benchmarks.corpus`: deterministic messages of 200 B, 4 KB and 64 KB.
- :mod:`benchmarks.append`, :mod:`benchmarks.history`: the workloads and their
  limit baselines (a minimal hand-written script; LRANGE plus a bare decode).
- :mod:`benchmarks.peers`: langchain_community and llama-index, when installed.
- :mod:`benchmarks.memory`: bytes per message, and long lists on each server.
- :mod:`benchmarks.restore`: goldens (restore, verify) and fresh server starts.
- :mod:`benchmarks.report`: terminal and Markdown tables, targets.
"""
