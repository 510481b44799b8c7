"""Scaling tools: ``mux doctor`` (a preflight of this machine) and ``mux bench`` (load).

Nothing here is imported by ``mux serve``.
"""
