"""`--format json`: one document for the whole run."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from codemod.report.paths import name_bytes
from codemod.results import FileResult


def path_fields(path: str) -> dict[str, str]:
    """`path` as text; a name that is not valid UTF-8 also gets `path_bytes`, its exact bytes in base64.

    In `path` its undecodable bytes read `\\xNN`, so the text is valid Unicode and still tells the files apart.
    """
    raw = name_bytes(path)
    try:
        return {"path": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"path": raw.decode("utf-8", "backslashreplace"), "path_bytes": base64.b64encode(raw).decode("ascii")}


def file_to_dict(result: FileResult) -> dict[str, Any]:
    return {
        **path_fields(result.path),
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
