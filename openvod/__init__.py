"""openvod: self-hosted media services for video on demand, speaking the AMS v3 API."""

__version__ = "0.1.0"
