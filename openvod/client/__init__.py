"""Client side: openvod's small REST client, Azure SDK helpers, and the CLI's workflow."""
