"""The job worker: claims queued jobs and runs their encodes."""
