"""Serving processes: ``openvod serve``, ``openvod origin``'s workers, process tuning, TLS."""
