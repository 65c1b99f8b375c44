"""The sans-I/O core: pure functions that build DynamoDB requests and map replies.

Operations are generators that yield :class:`Call` (one client request),
:class:`Pause` (back off) or :class:`Concurrently` (several requests at once) and
receive the replies; the sync and async executors only run them. The request
builders in :mod:`cnop.data.core.requests` are public so that higher layers (the
transaction manager) can compose their own TransactWriteItems from the same pieces.
"""
