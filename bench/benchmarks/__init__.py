"""Benchmark modules: every module here is imported by ``bench.runner.discover``.

Add a module with one or more functions decorated with ``@bench.runner.register``.
Modules are imported after Django is set up, so they may import Ficha's models and
services at the top.
"""
