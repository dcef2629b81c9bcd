"""The AMS v3 management API (ARM paths, bearer-token auth, ARM error bodies)."""
