"""Ending a process that used the Temporal SDK with its own exit status.

The SDK's core runs threads of its own; at interpreter exit they can abort the process
(``Fatal Python error: PyGILState_Release ... finalizing``, exit 134, sdk-python#300) after the
command has finished and printed its answer, so a script sees a failure that did not happen.
Flushing the standard streams and leaving through ``os._exit`` skips interpreter finalisation,
and with it whatever those threads would do.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable


def exit_status(code: object) -> int:
    """``SystemExit.code`` as a process status: None is success, a message is printed and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def run_then_exit(main: Callable[[], object]) -> None:
    """Run ``main`` (a CLI's body, which may ``sys.exit``) and end the process with its status."""
    try:
        main()
        status = 0
    except SystemExit as exc:
        status = exit_status(exc.code)
    except KeyboardInterrupt:
        status = 130
    except BaseException:  # noqa: BLE001 (printed as Python would, then the same status 1)
        traceback.print_exc()
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe: nothing more can be said on it
    os._exit(status)
