"""Confirming every declared model: build, fold, compare. Returns values; prints nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bnlint.config import Config, ModelSpec
from bnlint.confirm.compare import compare_model
from bnlint.ftypes import CheckResult, ModelAgreement

log = logging.getLogger("bnlint.confirm")


def confirm_models(
    check: CheckResult, config: Config, specs: Sequence[ModelSpec] | None = None
) -> tuple[ModelAgreement, ...]:
    """One agreement table per declared model (all of `config.models` unless `specs`).

    A model that cannot be built, run or folded gets a table with `error` set instead of rows;
    the other models are still confirmed.
    """
    from bnlint.confirm.observe import observe_model  # torch, only now
    from bnlint.runtime.fold import FoldError
    from bnlint.runtime.loading import SetupError
    from bnlint.runtime.targets import import_roots

    roots = import_roots(config)
    tables = []
    for spec in config.models if specs is None else specs:
        log.info("confirming %s (%s)", spec.name, spec.factory)
        try:
            observation = observe_model(spec, import_roots=roots)
        except (SetupError, FoldError) as error:
            tables.append(ModelAgreement(spec.name, spec.factory, error=str(error)))
            continue
        except Exception as error:  # the user's model may fail inside the checker anyhow
            log.debug("confirming %s failed", spec.name, exc_info=True)
            tables.append(
                ModelAgreement(spec.name, spec.factory, error=f"{type(error).__name__}: {error}")
            )
            continue
        tables.append(compare_model(spec.name, spec.factory, check, observation))
    return tuple(tables)
