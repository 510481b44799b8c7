"""Peer servers the benchmarks measure mux against."""
