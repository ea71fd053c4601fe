"""The one error type for a user's mistake.

Every problem with the user's input or set-up (settings, data, a solver's
contract, a results file) raises a subclass of :class:`UserError` whose
message says what is wrong and what to do. The command-line entry points
and the objective's error boundary show it as one ``error: ...`` line
without a traceback and exit non-zero; anything else is a bug and keeps its
traceback.
"""


class UserError(Exception):
    """A bad input or setting; the message is complete advice for the user."""
