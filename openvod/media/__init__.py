"""Pure media library: bytes in, bytes/str out. No files, sockets, subprocesses or asyncio."""
