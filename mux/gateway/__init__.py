"""The gateway: forwards every downstream stream to an upstream cluster.

Pieces, each testable without sockets (see each module's theory of operation):

* :mod:`mux.gateway.model`: the configuration as plain frozen data;
* :mod:`mux.gateway.errors`: the failure kinds every piece raises, below all of them;
* routing, balancing, health and pools build on those two.
"""
