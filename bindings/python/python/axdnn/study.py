"""Study plans (the ``axdnn study run`` engine): keyed, resumable results and a report."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ._axdnn import plan_toml_from_json, study_run

PlanLike = Union[str, "os.PathLike[str]", Mapping[str, Any]]


def run(
    plan: PlanLike,
    out: Union[str, "os.PathLike[str]"],
    data: Optional[Union[str, "os.PathLike[str]"]] = None,
    evoapprox: Optional[Union[str, "os.PathLike[str]"]] = None,
    progress: bool = True,
) -> Tuple[List[Dict[str, Any]], str]:
    """Run a plan into the results folder ``out`` and write its report.

    Rows already stored under the same key are reused, so a rerun (or a run killed half way and
    started again) only measures what is missing.

    Args:
        plan: a plan file (TOML) path, or a dict of plan keys as a plan file would hold them
            (e.g. ``{"name": "demo", "models": ["models/lenet5-mnist"], "multipliers":
            ["exact", "mul8u_L40"], "attacks": ["clean"], "images": 100}``; see the plan-file
            reference of the guide).
        out: results folder.
        data, evoapprox: dataset and EvoApprox folders (default: the environment variables,
            else ``../shared``).
        progress: show progress bars on standard error.

    Returns:
        ``(rows, report_path)``: one dict per measured cell and target with the key fields,
        ``n``, ``correct``, ``accuracy``, ``ci_low``/``ci_high`` (95 % Wilson interval) and
        ``correct_images`` (per test image, whether it was still classified correctly), and
        the path of ``report.md``.
    """
    fs = lambda p: None if p is None else os.fspath(p)  # noqa: E731
    if isinstance(plan, Mapping):
        text, is_toml = plan_toml_from_json(json.dumps(dict(plan))), True
    else:
        text, is_toml = os.fspath(plan), False
    rows, report = study_run(text, os.fspath(out), is_toml, fs(data), fs(evoapprox), progress)
    return json.loads(rows), os.fspath(report)
