"""The companion GPT trainer: reads the shards and manifest.json the tokenize stage writes.

``model.py`` is the network, ``data.py`` the manifest checks and the bucket-then-window sampler,
``train.py`` the loop and ``__main__.py`` the command line (``python -m gristmill.trainer --help``).
torch is an optional dependency: ``pip install '.[trainer]'``.
"""
