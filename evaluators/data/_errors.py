"""The data layer's one exception, apart so that every module of the package can raise it."""


class DataError(ValueError):
    """A one-line, user-facing problem with the data: bad spec, missing path, empty class, unreadable image."""
