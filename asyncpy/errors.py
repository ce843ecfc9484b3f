"""Errors a user sees. Each carries one line that says what is wrong and,
where it helps, what to do; the CLI prints it and exits with status 1."""


class AsyncpyError(Exception):
    """A problem with the input or the options, reported as one line."""


class InputError(AsyncpyError):
    """The input file cannot be read, parsed or validated."""


class UnsupportedError(AsyncpyError):
    """The module uses something asyncpy cannot instrument safely."""
