"""Pure HTTP semantics shared by the blob endpoint, the origin and the server (RFC 9110).

No I/O, no asyncio and no framework types: strings, bytes, integers and
datetimes in and out. One concept a module:

- :mod:`.dates`: HTTP-date formatting (IMF-fixdate) and lenient parsing;
- :mod:`.ranges`: ``bytes=`` range sets, spans and ``Content-Range``;
- :mod:`.etags`: entity tags and their strong and weak comparison;
- :mod:`.conditionals`: preconditions evaluated in RFC 9110 section 13.2.2's order.
"""
