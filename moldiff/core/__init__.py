"""Core: what every layer shares and nothing of chemistry or diffusion.

Errors (:mod:`.errors`), safe file writing and JSON (:mod:`.files`), where artifacts live
(:mod:`.assets`: ``models/`` and ``guidance/`` roots, the cache), process pools (:mod:`.parallel`)
and devices and threads (:mod:`.runtime`, which imports torch only when asked about a device).

May import: nothing of moldiff.
"""
