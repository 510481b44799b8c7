"""Operations: metrics (:mod:`mux.ops.metrics`), the access log (:mod:`mux.ops.accesslog`)
and process-wide driver counters (:mod:`mux.ops.counters`)."""
