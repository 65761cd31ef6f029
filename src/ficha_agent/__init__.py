"""Ficha's station agent (``ficha-agent``): the lock screen and session bar on a café PC.

Django-free on purpose (it runs on the customers' PCs): it imports :mod:`ficha_protocol`
for everything on the wire, the standard library and Tkinter, nothing else.

* :mod:`ficha_agent.config` — the configuration file and where it lives;
* :mod:`ficha_agent.i18n` — the screens' strings (gettext) and which language to speak;
* :mod:`ficha_agent.catalog` — the built-in fr, es, it, pt and de translations;
* :mod:`ficha_agent.machine` — what the PC shows and when (locked / in session / warning /
  offline), a plain module testable without a display;
* :mod:`ficha_agent.net` — the link in an asyncio thread, talking to the GUI by queues;
* :mod:`ficha_agent.gui` — the Tkinter lock screen and session bar;
* :mod:`ficha_agent.cli` — ``ficha-agent pair SERVER CODE`` and ``ficha-agent run``.

See docs/agent.md.
"""

__version__ = "0.1.0"
