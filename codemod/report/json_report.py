"""`--format json`: one document for the whole run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from codemod.results import FileResult


def file_to_dict(result: FileResult) -> dict[str, Any]:
    return {
        "path": result.path,
        "changed": result.changed,
        "error": result.error,
        "targets": [
            {
                "class": target.class_name,
                "method": target.method,
                "line": target.line,
                "role": target.role,
                "sites": [
                    {"id": site.id, "line": site.line, "status": site.status, "reason": site.reason}
                    for site in target.sites
                ],
            }
            for target in result.targets
        ],
    }


def render_json(results: Sequence[FileResult]) -> str:
    return json.dumps({"files": [file_to_dict(result) for result in results]}, indent=2) + "\n"
