"""Rendered default answers: a user's answer to the default request (`DEFAULT`: ten items, no filter),
rendered when a training precomputes their list and kept with it in Redis (service.store.lists.Rendered).
A first read of a user with nothing since training answers with it as it is, instead of decoding,
filtering and encoding the list: that work, done cold between other requests, was most of what a first
read cost beyond the Redis read itself (benchmarks/README.md, Serving).

A rendered answer is what the read path gives a user with no since-training state: no item touched since
training, none recently shown, no purchase since (so nothing waits behind the other items; items they
bought before training are flagged `"repeat": true` by a model that serves them), against the catalog
view it was rendered with. `ServingModel.view_digest` sums that view up; the read path uses a rendered
answer only while the serving model's digest is the one it was rendered with, and goes the usual way
otherwise (after a catalog change that could alter it, until the next training renders again).
"""

from __future__ import annotations

import numpy as np

from service.encoding import dumps
from service.serving.model_state import ServingModel
from service.serving.picking import pick
from service.serving.repeats import own_items
from service.serving.requests import ListRequest
from service.store.events.since_training import NO_STATE, UserState
from service.store.lists import Rendered

#: The request a rendered answer answers: a user's list with every parameter left out.
DEFAULT = ListRequest()


def render(current: ServingModel, code: int, ids: np.ndarray, scores: np.ndarray, digest: bytes) -> Rendered | None:
    """The default answer of a user with no since-training state, from their precomputed list.

    Parameters
    ----------
    current : ServingModel
        The model the list is for, with the catalog view `digest` sums up.
    code : int
        The user's code in the model.
    ids, scores : numpy.ndarray
        int and float, shape (k,): their precomputed list, best first (negative ids: padding).
    digest : bytes
        `current.view_digest()`, computed once by the caller.

    Returns
    -------
    Rendered or None
        None when the list holds fewer than DEFAULT.n items the default request allows: the read path
        then ranks the allowed items directly, which a rendered answer cannot stand for.
    """
    items = pick(current, ids, scores, DEFAULT, set(), bought=own_items(current, code, NO_STATE, 0.0).bought)
    if len(items) < DEFAULT.n:
        return None
    return Rendered(digest, len(items), dumps(items))


def usable(current: ServingModel, rendered: Rendered, state: UserState) -> bool:
    """Whether `rendered` is the answer to the default request (the caller's to check) for a user in `state`
    now: nothing since training, and the catalog view it was rendered with."""
    return (not state.since_training and not state.shown and not state.bought
            and rendered.digest == current.view_digest())
