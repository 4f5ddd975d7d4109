"""A pipeline that applies the branch rules and builds nothing: for gitd's tests and the push benchmark."""

from __future__ import annotations

import threading

from fleetgate.gitd.pipeline import Decision, Progress, Push, Verdict

from .refrules import RefRefused, is_kept, rule_for


def accept_deploy_branches(push: Push, progress: Progress, cancelled: threading.Event) -> Decision:
    """Accept pushes to master (and its aliases) and tags; refuse other branches and deletions with a hint."""
    verdicts = []
    for update in push.updates:
        if is_kept(update.ref):
            verdicts.append(Verdict.accept(update.ref))
            continue
        try:
            rule = rule_for(update.ref, update.is_delete)
        except RefRefused as e:
            verdicts.append(Verdict.reject(update.ref, str(e)))
            continue
        store_as = None if rule.moves == update.ref else rule.moves
        verdicts.append(Verdict.accept(update.ref, store_as))
    return Decision(tuple(verdicts))
