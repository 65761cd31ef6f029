"""Ficha's station agent protocol: the messages between a café PC's agent and the server.

Django-free on purpose: the station agent (a separate program on each PC) imports this
package, and so does the server's link door (``ficha stationd``). Defined once here:

* :mod:`ficha_protocol.messages` — message types, the signed envelope, the replay rule;
* :mod:`ficha_protocol.client` — the agent's half: pairing and the persistent link
  (used by the agent, by the tests and by ``bench`` simulated stations).

See docs/agent-protocol.md for every message.
"""

PROTOCOL_VERSION = 1
AGENT_PATH = "/agent"  # the WebSocket path; secrets never travel in it
