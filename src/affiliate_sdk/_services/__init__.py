"""The services an ``Alliance`` is composed of: each loads facts, calls a pure decision,
and applies its result in one unit of work. Private: hosts use ``Alliance``."""
