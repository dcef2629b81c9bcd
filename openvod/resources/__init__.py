"""Typed AMS resources: pydantic v2 models of each resource's properties.

The models mirror what ``azure-mgmt-media`` 10.2.1 serializes (camelCase keys,
``@odata.type`` discriminators) and are validated at the API edge. They hold no
persistence and no HTTP: services take and return them, the API layer parses
request bodies into them with :func:`openvod.resources.base.parse`.
"""
