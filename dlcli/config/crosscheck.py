"""Checks between keys (``data.stream`` needs ``train.batch_size``, ...) that can run even when
other keys of the config are wrong, so that every error is reported at once.

pydantic runs a model's ``mode="after"`` validators only once all of its fields are valid, and
stops at the first that fails. A check written with :func:`cross_check` is such a validator,
and it can also be run by hand (:func:`failed_checks`) on a config whose wrong keys were put
back to their defaults; a check that reads one of those keys is skipped, so it never speaks
about a value the user did not write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationInfo, model_validator

#: The validation context key that turns the cross checks off (see :func:`failed_checks`).
SKIP_CROSS_CHECKS = "dlcli_skip_cross_checks"

Check = Callable[[Any], Any]


def cross_check(check: Check) -> Any:
    """A ``model_validator(mode="after")`` that validation with the context
    ``{SKIP_CROSS_CHECKS: True}`` leaves out; the check itself is kept as ``.check``."""

    def run(self: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get(SKIP_CROSS_CHECKS):
            return self
        return check(self)

    run.__name__, run.__qualname__, run.__doc__ = check.__name__, check.__qualname__, check.__doc__
    run.check = check  # type: ignore[attr-defined]
    return model_validator(mode="after")(run)


class _NotGivenError(Exception):
    """A check read a key whose value is not the user's (it was wrong, or missing)."""


class _Section:
    """A validated section seen by a check: a key in ``unknown`` raises :class:`_NotGivenError`,
    a sub-section is seen the same way, anything else is the section's own attribute."""

    def __init__(self, model: BaseModel, path: tuple[str, ...], unknown: set[tuple[str, ...]]):
        self._model, self._path, self._unknown = model, path, unknown

    def __getattr__(self, name: str) -> Any:
        path = (*self._path, name)
        if path in self._unknown:
            raise _NotGivenError(".".join(path))
        value = getattr(self._model, name)
        return _Section(value, path, self._unknown) if isinstance(value, BaseModel) else value


def failed_checks(
    model: BaseModel, unknown: set[tuple[str, ...]], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], str]]:
    """Run every :func:`cross_check` of ``model`` and of its sections.

    Parameters
    ----------
    model : the config validated with the cross checks off
    unknown : the attribute paths (``("train", "batch_size")``) whose values are not the
        user's; a check that reads one is skipped
    path : where ``model`` sits in the config

    Returns
    -------
    list of (path of the section whose check failed, the check's message)
    """
    failed = []
    for decorator in type(model).__pydantic_decorators__.model_validators.values():
        check = getattr(decorator.func, "check", None)
        if check is None:
            continue
        try:
            check(_Section(model, path, unknown))
        except _NotGivenError:
            continue
        except ValueError as exc:
            failed.append((path, str(exc)))
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel) and (*path, name) not in unknown:
            failed += failed_checks(value, unknown, (*path, name))
    return failed
