"""The admin listener of ``mux serve`` and ``mux gateway`` (see :mod:`mux.admin.app`)."""
