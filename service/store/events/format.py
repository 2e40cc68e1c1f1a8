"""What the event stream and the change log hold: field names, nonces and limits, shared by the code
that writes them (write.py, since_training.py) and the code that reads them (stream.py, the mirror).

Event stream `{prefix}:events`, one entry per accepted event: `u` user id, `i` item id, `t` type name,
`ts` timestamp (epoch seconds, Python repr of the float parsed), `v` value, and when given `e` the
client's event id and `r` the recommendation id it answers; a purchase or add-to-cart may have `p` its unit
price (as sent, or for a purchase sent without one the catalog's price at ingestion), `q` its quantity
(absent: 1) and `o` its order id (ORDER_STREAM_FIELDS). Its generation key holds a random nonce
set whenever the stream is created (stream.py).

Change log `{prefix}:change-log` (service.store.keys), one entry per write of users' since-training state or shown
sets: `u` the users written, newline-separated (ids never hold control characters), and `n` a random
nonce naming the entry (the mirror remembers (id, nonce): ids can repeat after the log is deleted
and written again, nonces do not).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

STREAM_FIELDS = ("u", "i", "t", "ts", "v")  # what every event entry has; `e` and `r` are optional
#: The optional order fields of an event entry, in EventTable's order: price, quantity, order id.
ORDER_STREAM_FIELDS = ("p", "q", "o")
#: Entries kept in the change log; a replica that falls further behind drops its whole mirror.
CHANGE_LOG_MAXLEN = 100_000


def nonce() -> str:
    """64 random bits as 16 hex digits: a change-log entry's `n`, or a stream generation."""
    return secrets.token_hex(8)


def change_log_entry(users: Sequence[str]) -> dict[str, str]:
    """The fields of one change-log entry announcing `users`, for writers that XADD from Python.

    Returns
    -------
    dict of str to str
        `u`: the user ids, newline-separated; `n`: a fresh `nonce`.
    """
    return {"u": "\n".join(users), "n": nonce()}
