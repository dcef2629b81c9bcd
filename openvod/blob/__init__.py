"""The Azure Blob REST endpoint that SAS clients (azure-storage-blob) talk to."""

from openvod.blob.app import BlobApp, create_blob_app

__all__ = ["BlobApp", "create_blob_app"]
