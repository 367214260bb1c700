"""`junit`: JUnit XML for CI systems that show test reports. One test suite per checked file;
every finding is a failed test case, and a clean file is one passing test case."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from bnlint.ftypes import CheckResult, Diagnostic
from bnlint.reporters.base import ReportContext

NAME = "junit"


def render(result: CheckResult, context: ReportContext) -> str:
    by_file: dict[str, list[Diagnostic]] = defaultdict(list)
    for diagnostic in result.diagnostics:
        by_file[diagnostic.path].append(diagnostic)
    files = sorted(set(result.files) | set(by_file))
    tests = sum(max(1, len(by_file[f])) for f in files)
    root = ET.Element(
        "testsuites",
        name="bnlint",
        tests=str(tests),
        failures=str(len(result.diagnostics)),
        errors="0",
    )
    for path in files:
        findings = by_file[path]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=path,
            tests=str(max(1, len(findings))),
            failures=str(len(findings)),
            errors="0",
        )
        if not findings:
            ET.SubElement(suite, "testcase", name="bnlint", classname=path, file=path)
        for d in findings:
            case = ET.SubElement(
                suite,
                "testcase",
                name=f"{d.code} [{d.name}] line {d.line}",
                classname=path,
                file=path,
                line=str(d.line),
            )
            failure = ET.SubElement(case, "failure", message=d.message, type=d.code)
            failure.text = f"{d.path}:{d.line}:{d.column}: {d.code} [{d.name}] {d.message}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
