"""openvod's tests: a package, so `tests.conftest` is ours even if a wheel ships `tests`."""
