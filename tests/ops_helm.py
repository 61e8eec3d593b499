"""A small renderer for the subset of Helm's Go templates our chart uses (no `helm` binary installs here).

Supported: `{{ .Values.a.b }}`, `.Release.Name/Namespace`, `.Chart.Name/AppVersion/Version`,
`define`/`include`, `if`/`else`/`end` on a value's truthiness, pipes `quote`, `default X`,
`toYaml`, `nindent N`, `indent N`, and `{{-` / `-}}` whitespace trimming. Anything else raises, so a
template using more than this subset fails the test instead of rendering wrongly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

TOKEN = re.compile(r"{{(-?)\s*(.*?)\s*(-?)}}", re.S)


def deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class Renderer:
    def __init__(self, chart_dir: Path, values: dict, release: str = "hotel", namespace: str = "default") -> None:
        chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
        self.root = {
            "Values": values,
            "Release": {"Name": release, "Namespace": namespace},
            "Chart": {"Name": chart["name"], "AppVersion": chart.get("appVersion"), "Version": chart["version"]},
        }
        self.defines: dict[str, str] = {}
        for helper in (chart_dir / "templates").glob("_*.tpl"):
            self._collect_defines(helper.read_text())

    def _collect_defines(self, text: str) -> None:
        for match in re.finditer(r'{{-?\s*define\s+"([^"]+)"\s*-?}}(.*?){{-?\s*end\s*-?}}', text, re.S):
            self.defines[match.group(1)] = match.group(2)

    def _lookup(self, path: str) -> Any:
        if not path.startswith("."):
            raise ValueError(f"unsupported expression {path!r}")
        value: Any = self.root
        for part in path[1:].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def _atom(self, text: str) -> Any:
        text = text.strip()
        if text.startswith('"') and text.endswith('"'):
            return text[1:-1]
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        return self._lookup(text)

    def _eval(self, expression: str) -> Any:
        stages = [stage.strip() for stage in expression.split("|")]
        first = stages[0].split()
        if first[0] == "include":
            value: Any = self.render_text(self.defines[first[1].strip('"')]).strip("\n")
        elif first[0] == "toYaml":
            value = yaml.safe_dump(self._atom(first[1]), default_flow_style=False, sort_keys=False).rstrip("\n")
        elif len(first) == 1:
            value = self._atom(first[0])
        else:
            raise ValueError(f"unsupported expression {expression!r}")
        for stage in stages[1:]:
            name, *args = stage.split()
            if name == "quote":
                value = '"' + str("" if value is None else value).replace('"', '\\"') + '"'
            elif name == "default":
                value = value if value not in (None, "", [], {}) else self._atom(args[0])
            elif name in ("nindent", "indent"):
                pad = " " * int(args[0])
                value = ("\n" if name == "nindent" else "") + "\n".join(
                    pad + line if line else line for line in str(value).split("\n"))
            else:
                raise ValueError(f"unsupported pipe {name!r}")
        return "" if value is None else value

    def render_text(self, text: str) -> str:
        out: list[str] = []
        stack: list[bool] = []  # emitting?
        position = 0
        pending_rtrim = False
        for match in TOKEN.finditer(text):
            chunk = text[position:match.start()]
            if pending_rtrim:
                chunk = chunk.lstrip()
            if match.group(1):
                chunk = chunk.rstrip()
            if all(stack):
                out.append(chunk)
            pending_rtrim = bool(match.group(3))
            position = match.end()
            action = match.group(2)
            if action.startswith("/*"):
                continue
            keyword = action.split()[0] if action else ""
            if keyword == "if":
                stack.append(bool(self._eval(action[2:].strip())) if all(stack) else False)
            elif keyword == "else":
                stack[-1] = not stack[-1] and all(stack[:-1])
            elif keyword == "end":
                stack.pop()
            elif keyword == "define":
                raise ValueError("define outside a helper file")
            elif all(stack):
                out.append(str(self._eval(action)))
        tail = text[position:]
        out.append(tail.lstrip() if pending_rtrim else tail)
        if stack:
            raise ValueError("unclosed if")
        return "".join(out)

    def render_chart(self, chart_dir: Path) -> dict[str, list[dict]]:
        """Every template's documents (empty documents dropped), by file name."""
        rendered = {}
        for template in sorted((chart_dir / "templates").glob("*.yaml")):
            docs = [doc for doc in yaml.safe_load_all(self.render_text(template.read_text())) if doc]
            rendered[template.name] = docs
        return rendered
