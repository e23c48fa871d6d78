"""The sample storefront (``examples/storefront``) served beside the local stack: ``orders up --storefront``.

- ``server``: the WSGI app that serves the built page and its ``/config.json`` (``StorefrontApp``), and the stack's
  companion that runs it on waitress behind ``LoopbackGuard`` (``StackStorefront``).
"""
