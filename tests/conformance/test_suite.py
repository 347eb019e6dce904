"""The conformance suite over every registered card and backend (see zoo.conformance.suite)."""

from zoo.conformance.suite import *  # noqa: F401,F403
