"""Resource logic below HTTP: validation, persistence and the rules of each AMS resource."""
