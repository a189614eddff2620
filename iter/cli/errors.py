"""User errors end as one message and an exit code, never as a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from iter.errors import IterError


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except IterError as err:
        logging.getLogger("iter").debug("user error", exc_info=True)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


